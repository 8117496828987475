"""Sonic's audio path: waveform -> whisper hidden states -> per-frame audio tokens and buckets.

The steps and constants follow Sonic's inference code (research/sonic.md §4.2-4.3):

- audio is loaded mono at 16 kHz; `audio_len = n_samples // 640` counts 25 fps audio frames;
- whisper log-mel features are computed per 30 s (480,000-sample) chunk, each padded to 30 s,
  and the encoder runs per 3000-frame chunk, giving 50 tokens/s (2 per audio frame);
- all encoder hidden states (embedding output + each layer, the last after the final LayerNorm)
  are stacked, cut to `2 * audio_len` tokens and zero-padded so that the window of generated
  frame i starts at token `2 * step * i`;
- audio2token reads 10-token windows of the stack, audio2bucket 50-token windows of the last
  layer. Unconditional tokens are audio2token applied to a zero window, not zeros.

Everything is a pure function of its inputs and the models it is given, so the caller decides
when the whisper encoder is freed. Computations run on the models' own device and dtype.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import librosa
import numpy as np
import soundfile as sf
import torch
from safetensors.torch import load_file
from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperModel
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from ..errors import InputError, ModelsMissing
from ..media.audio import decode_mono
from .audio_adapters import Audio2Bucket, Audio2Token

SAMPLE_RATE = 16_000
CHUNK_SAMPLES = 480_000  # 30 s: one whisper input, 3000 mel frames, 1500 tokens
SAMPLES_PER_AUDIO_FRAME = 640  # 25 fps audio frames
TOKENS_PER_AUDIO_FRAME = 2  # whisper gives 50 tokens/s
MEL_FRAMES_PER_CHUNK = 3000
DEFAULT_FRAME_LIMIT = 10_000  # Sonic's `frame_num`: at most 400 s of audio frames
DEFAULT_STEP = 2  # Sonic's `step`: one generated frame per 2 audio frames (12.5 fps)


@dataclass(frozen=True)
class TokenWindow:
    """Zero padding around the token sequence; a window spans `before + after` tokens."""

    before: int
    after: int

    @property
    def length(self) -> int:
        return self.before + self.after


PROMPT_WINDOW = TokenWindow(before=4, after=6)  # audio2token: tokens 4i-4 .. 4i+5 (-80..+120 ms)
BUCKET_WINDOW = TokenWindow(before=24, after=26)  # audio2bucket: about +-0.5 s around frame i


@dataclass(frozen=True)
class Whisper:
    """Whisper's feature extractor and encoder: all the audio path needs (no decoder)."""

    feature_extractor: WhisperFeatureExtractor
    encoder: WhisperEncoder


@dataclass(frozen=True)
class AudioFeatures:
    """Whisper outputs for one audio file, padded for the per-frame windows.

    input_features: (1, 80, 3000 * chunks) log-mel.
    hidden_states: (1, 1500 * chunks, layers + 1, d) all encoder states, stacked on dim 2.
    prompts: (1, 2 * audio_len + 10, layers + 1, d), the audio2token input sequence.
    last_prompts: (1, 2 * audio_len + 50, 1, d), the audio2bucket input sequence.
    """

    num_samples: int
    audio_len: int
    input_features: torch.Tensor
    hidden_states: torch.Tensor
    prompts: torch.Tensor
    last_prompts: torch.Tensor


@dataclass(frozen=True)
class AudioConditioning:
    """Per generated frame (N = audio_len // step) conditioning for the UNet.

    tokens_cond / tokens_uncond: (N, context_tokens, cross_dim).
    bucket_raw: (N, 1, 2, 1) audio2bucket output; motion_buckets = bucket_raw * 16 + 16, where
    [..., 0, 0] is the motion-bucket slot and [..., 1, 0] the slot SVD uses for noise-aug strength.
    """

    tokens_cond: torch.Tensor
    tokens_uncond: torch.Tensor
    bucket_raw: torch.Tensor
    motion_buckets: torch.Tensor

    @property
    def num_frames(self) -> int:
        return self.tokens_cond.shape[0]


def load_whisper(folder: Path, *, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> Whisper:
    """Whisper from a Hugging Face folder (Sonic's `checkpoints/whisper-tiny`)."""
    model = WhisperModel.from_pretrained(folder)
    return Whisper(WhisperFeatureExtractor.from_pretrained(folder),
                   _encoder_of(model, device, dtype))


def load_whisper_files(weights: Path, config: Path, preprocessor_config: Path, *,
                       device: torch.device | str = "cpu",
                       dtype: torch.dtype = torch.float32) -> Whisper:
    """Whisper from a full-model safetensors file plus its two JSON configs (the golden layout)."""
    model = WhisperModel(WhisperConfig(**json.loads(config.read_text())))
    result = model.load_state_dict(load_file(str(weights), device="cpu"), strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelsMissing(f"{weights}: not a WhisperModel checkpoint (missing keys: "
                            f"{', '.join(result.missing_keys) or '-'}; unexpected keys: "
                            f"{', '.join(result.unexpected_keys) or '-'})")
    extractor = WhisperFeatureExtractor(**json.loads(preprocessor_config.read_text()))
    return Whisper(extractor, _encoder_of(model, device, dtype))


def _encoder_of(model: WhisperModel, device: torch.device | str,
                dtype: torch.dtype) -> WhisperEncoder:
    return model.encoder.to(device=device, dtype=dtype).eval()


def load_audio(path: Path) -> np.ndarray:
    """Mono float32 waveform at 16 kHz, resampled with librosa's default (as Sonic does).

    WAV/FLAC/MP3 decode through libsndfile exactly as `librosa.load` does; what libsndfile
    cannot read (M4A/AAC) is decoded with PyAV's bundled FFmpeg, then resampled the same way.
    """
    try:
        return soundfile_load(path)
    except sf.LibsndfileError:
        samples, rate = decode_mono(path)
    return librosa.resample(samples, orig_sr=rate, target_sr=SAMPLE_RATE)


def soundfile_load(path: Path) -> np.ndarray:
    samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return librosa.resample(samples.mean(axis=1), orig_sr=rate, target_sr=SAMPLE_RATE)


def log_mel_features(waveform: np.ndarray,
                     feature_extractor: WhisperFeatureExtractor) -> torch.Tensor:
    """(1, 80, 3000 * chunks): each 30 s chunk padded to 30 s on its own, as Sonic does."""
    chunks = [feature_extractor(waveform[start:start + CHUNK_SAMPLES], sampling_rate=SAMPLE_RATE,
                                return_tensors="pt").input_features
              for start in range(0, len(waveform), CHUNK_SAMPLES)]
    return torch.cat(chunks, dim=-1)


@torch.inference_mode()
def encode(input_features: torch.Tensor, encoder: WhisperEncoder) -> torch.Tensor:
    """(1, 1500 * chunks, layers + 1, d): all encoder hidden states, per 3000-frame chunk."""
    parameter = next(encoder.parameters())
    states = [torch.stack(encoder(chunk.to(parameter.device, parameter.dtype),
                                  output_hidden_states=True).hidden_states, dim=2)
              for chunk in input_features.split(MEL_FRAMES_PER_CHUNK, dim=-1)]
    return torch.cat(states, dim=1)


def pad_tokens(tokens: torch.Tensor, window: TokenWindow) -> torch.Tensor:
    """Zero-pad the token axis (dim 1) by `window.before` / `window.after`."""
    shape = list(tokens.shape)
    before = tokens.new_zeros(shape[:1] + [window.before] + shape[2:])
    after = tokens.new_zeros(shape[:1] + [window.after] + shape[2:])
    return torch.cat([before, tokens, after], dim=1)


def delayed(waveform: np.ndarray, samples: int) -> np.ndarray:
    """`waveform` later by `samples` (earlier when negative), as long as it was: silence comes
    in at one end and the same length goes out at the other."""
    if samples == 0:
        return waveform
    pad = np.zeros(min(abs(samples), len(waveform)), waveform.dtype)
    if samples > 0:
        return np.concatenate([pad, waveform[:len(waveform) - len(pad)]])
    return np.concatenate([waveform[len(pad):], pad])


def extract_audio_features(path: Path, whisper: Whisper, *,
                           frame_limit: int = DEFAULT_FRAME_LIMIT,
                           start: float = 0.0, duration: float = 0.0,
                           offset_ms: int = 0) -> AudioFeatures:
    """Load `path` and run whisper; `frame_limit` caps audio_len (Sonic's `frame_num`).
    `start` and `duration` (seconds; 0: to the end) choose the part of the clip to animate;
    `offset_ms` delays what the frames hear (negative: advances it) against the clip's own
    timing, which the muxed sound keeps."""
    waveform = delayed(load_audio(path), round(offset_ms * SAMPLE_RATE / 1000))
    if start or duration:
        first = round(start * SAMPLE_RATE)
        waveform = waveform[first:first + round(duration * SAMPLE_RATE) if duration else None]
    audio_len = min(len(waveform) // SAMPLES_PER_AUDIO_FRAME, frame_limit)
    features = log_mel_features(waveform, whisper.feature_extractor)
    hidden = encode(features, whisper.encoder)
    used = hidden[:, :audio_len * TOKENS_PER_AUDIO_FRAME]
    return AudioFeatures(num_samples=len(waveform), audio_len=audio_len, input_features=features,
                         hidden_states=hidden, prompts=pad_tokens(used, PROMPT_WINDOW),
                         last_prompts=pad_tokens(used[:, :, -1:], BUCKET_WINDOW))


def frame_windows(sequence: torch.Tensor, num_frames: int, length: int,
                  stride: int) -> torch.Tensor:
    """(num_frames, length, ...) windows of a (1, T, ...) sequence; frame i starts at stride * i."""
    index = (torch.arange(num_frames) * stride)[:, None] + torch.arange(length)
    return sequence[0, index.to(sequence.device)]


@torch.inference_mode()
def audio_conditioning(features: AudioFeatures, audio2token: Audio2Token,
                       audio2bucket: Audio2Bucket, clip_image_embeds: torch.Tensor, *,
                       step: int = DEFAULT_STEP, batch_size: int = 64) -> AudioConditioning:
    """Audio tokens (cond and uncond) and motion buckets for each generated frame.

    Frames are processed `batch_size` at a time (per-frame calls differ only by float
    rounding). The unconditional tokens are the same for every frame, so they are computed once.
    """
    if audio2token.seq_len != PROMPT_WINDOW.length or audio2bucket.seq_len != BUCKET_WINDOW.length:
        raise ValueError(f"audio adapters must take {PROMPT_WINDOW.length}- and "
                         f"{BUCKET_WINDOW.length}-token windows, got {audio2token.seq_len} "
                         f"and {audio2bucket.seq_len}")
    num_frames = features.audio_len // step
    if num_frames == 0:
        raise InputError("audio", f"too short: {features.num_samples} samples give no video frame",
                         hint=f"at least {step * SAMPLES_PER_AUDIO_FRAME} samples at 16 kHz")
    token_param, bucket_param = next(audio2token.parameters()), next(audio2bucket.parameters())
    stride = TOKENS_PER_AUDIO_FRAME * step
    prompts = features.prompts.to(token_param.device, token_param.dtype)
    last_prompts = features.last_prompts.to(bucket_param.device, bucket_param.dtype)
    clip = clip_image_embeds.to(bucket_param.device, bucket_param.dtype)
    cond, raw = [], []
    for start in range(0, num_frames, batch_size):
        count = min(batch_size, num_frames - start)
        token_windows = frame_windows(prompts[:, start * stride:], count, PROMPT_WINDOW.length,
                                      stride)
        bucket_windows = frame_windows(last_prompts[:, start * stride:], count,
                                       BUCKET_WINDOW.length, stride)
        cond.append(audio2token(token_windows[None])[0])
        raw.append(audio2bucket(bucket_windows[None], clip)[0])
    zero_window = prompts.new_zeros(1, 1, PROMPT_WINDOW.length, *prompts.shape[2:])
    uncond = audio2token(zero_window)[0, 0]
    bucket_raw = torch.cat(raw)[:, None]
    return AudioConditioning(tokens_cond=torch.cat(cond),
                             tokens_uncond=uncond.expand(num_frames, *uncond.shape).clone(),
                             bucket_raw=bucket_raw, motion_buckets=bucket_raw * 16 + 16)
