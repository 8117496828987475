"""Media and keys for the provenance tests, made on the spot with PyAV (H.264 + AAC).

Frames are `skimage.data.astronaut()` with a slight per-frame motion, the setting the research
used to tune the watermark. Expensive things (keys, the marked clip) are made once per session.
"""

from __future__ import annotations

import fractions
import math
import socket
import struct
import wave
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image
from skimage import data

from sonic_ext.provenance.keys import (
    SigningCredentials,
    init_dev_keys,
    load_dev_credentials,
)
from sonic_ext.provenance.manifest import GenerationFacts, InputFile
from sonic_ext.provenance.publish import Publication, SignedOutput
from sonic_ext.provenance.watermark import FrameWatermarker
from sonic_ext.provenance.watermark_key import WatermarkKey

FPS = 25
CLIP_ID = "5eed0fc0ffee"
MARK_KEY = WatermarkKey(bytes(range(100, 132)))  # the tests' installation key


@dataclass(frozen=True)
class Published:
    """An output published as the service publishes one, less the registry record."""

    path: Path
    signed: SignedOutput

    @property
    def sha256(self) -> str:
        return self.signed.sha256


def publish_marked(final: Path, writer: Callable[[Path], None], facts: GenerationFacts,
                   credentials: SigningCredentials) -> Published:
    """Encode with `writer`, sign and publish to `final` as an installation whose watermark
    key is MARK_KEY."""
    with Publication(final) as publication:
        writer(publication.unsigned)
        signed = publication.sign(facts, credentials, watermark_key=MARK_KEY)
        return Published(publication.publish(), signed)


def install_mark_key(keys_dir: Path) -> None:
    """Make MARK_KEY the watermark key of the installation with this keys folder."""
    keys_dir.mkdir(parents=True, exist_ok=True)
    (keys_dir / "watermark.key").write_text(MARK_KEY.secret.hex() + "\n")
MakeFacts = Callable[..., GenerationFacts]
MarkedWriter = Callable[..., Callable[[Path], None]]


def moving_frames(count: int, size: int = 512, image: np.ndarray | None = None) -> np.ndarray:
    """`count` RGB frames of `image` (default: the astronaut) drifting +-3 px, +-1 %, +-0.3 deg."""
    base = cv2.resize(data.astronaut() if image is None else image, (size, size),
                      interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(count):
        t = i / FPS
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), 0.3 * math.sin(1.9 * t),
                                         1 + 0.01 * math.sin(2.5 * t))
        matrix[:, 2] += (3 * math.sin(4.4 * t), 3 * math.cos(3.1 * t))
        frames.append(cv2.warpAffine(base, matrix, (size, size), borderMode=cv2.BORDER_REFLECT))
    return np.stack(frames)


def write_mp4(path: Path, frames: Sequence[np.ndarray], *, crf: int = 18, preset: str = "medium",
              audio: bool = True) -> Path:
    """H.264 yuv420p (libx264: CRF, preset) and, by default, a mono AAC tone as long as it."""
    with av.open(str(path), "w") as container:
        height, width = frames[0].shape[:2]
        video = container.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        video.options = {"crf": str(crf), "preset": preset}
        sound = container.add_stream("aac", rate=16000) if audio else None
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            container.mux(video.encode(picture))
        container.mux(video.encode())
        if sound is not None:
            _write_tone(container, sound, len(frames) / FPS)
    return path


def _write_tone(container: av.container.OutputContainer, stream: av.AudioStream,
                seconds: float) -> None:
    rate = stream.rate
    samples = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate))
    for start in range(0, len(samples), 1024):
        chunk = samples[None, start:start + 1024].astype(np.float32)
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, fractions.Fraction(1, rate)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())


def read_frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def reencode(source: Path, dest: Path, *, crf: int = 23, preset: str = "medium",
             scale: float = 1.0, brightness: int = 0, frames: slice = slice(None)) -> Path:
    """An attacker's copy: decode, optionally trim / scale / brighten, encode again."""
    out = []
    for frame in read_frames(source)[frames]:
        if scale != 1.0:
            height, width = frame.shape[:2]
            size = (int(width * scale) // 2 * 2, int(height * scale) // 2 * 2)
            frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
        if brightness:
            frame = np.clip(frame.astype(np.int16) + brightness, 0, 255).astype(np.uint8)
        out.append(frame)
    return write_mp4(dest, out, crf=crf, preset=preset, audio=False)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("home") / "keys"
    init_dev_keys(directory)
    return directory


@pytest.fixture(scope="session")
def dev_credentials(keys_dir: Path) -> SigningCredentials:
    return load_dev_credentials(keys_dir)


@pytest.fixture(scope="session")
def inputs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A portrait PNG and a speech WAV: the two ingredients of every generation."""
    directory = tmp_path_factory.mktemp("inputs")
    Image.fromarray(data.astronaut()[::2, ::2]).save(directory / "portrait.png")
    with wave.open(str(directory / "speech.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(b"".join(struct.pack("<h", int(6000 * math.sin(i / 9)))
                                 for i in range(16000)))
    return directory


@pytest.fixture
def make_facts(inputs_dir: Path) -> MakeFacts:
    def make(watermark_id: str, **overrides: object) -> GenerationFacts:
        fields: dict[str, object] = {
            "portrait": InputFile.of(inputs_dir / "portrait.png", "portrait"),
            "audio": InputFile.of(inputs_dir / "speech.wav", "audio"),
            "watermark_id": watermark_id,
            "model_checksums": {"Sonic/unet.pth": "ab" * 32, "RIFE/flownet.pkl": "cd" * 32},
            "consent": {"decision": "allowed", "consent_id": "consent-record-7f3a",
                        "subject_id": "subject-42", "similarity": 0.81, "threshold": 0.5},
            "parameters": {"seed": 0, "inference_steps": 25, "min_resolution": 512},
            "title": "talking-head.mp4",
        }
        fields.update(overrides)
        return GenerationFacts(**fields)  # type: ignore[arg-type]
    return make


@pytest.fixture(scope="session")
def marked_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 512x512, 25 fps, watermarked with CLIP_ID, CRF 18 (the product's own encode)."""
    frames = FrameWatermarker(CLIP_ID, MARK_KEY).embed(moving_frames(100))
    return write_mp4(tmp_path_factory.mktemp("clip") / "marked.mp4", frames, crf=18)


@pytest.fixture
def marked_writer() -> MarkedWriter:
    """A publish writer that encodes `count` frames of `size` px of `image` (default: the
    astronaut) marked with the given ID."""
    def make(watermark_id: str, count: int = 25, size: int = 256,
             image: np.ndarray | None = None) -> Callable[[Path], None]:
        frames = FrameWatermarker(watermark_id, MARK_KEY).embed(moving_frames(count, size, image))

        def write(path: Path) -> None:
            write_mp4(path, frames)
        return write
    return make


@pytest.fixture
def closed_port_url() -> str:
    """A TSA URL on 127.0.0.1 where nothing listens (the port was bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/tsa"
