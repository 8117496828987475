"""`models make-tiny` trees go through the real loader, the whole pipeline and the MP4 writer."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from sonic_ext import ModelsMissing
from sonic_ext.adapters import cli
from sonic_ext.contracts import GenerationParams
from sonic_ext.media.encode import probe, write_mp4
from sonic_ext.sonic.layout import check_models
from sonic_ext.sonic.loading import load_models
from sonic_ext.sonic.pipeline import PipelineSettings, generate_frames
from sonic_ext.sonic.unet import SonicUNet
from tests.conftest import write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


def test_make_tiny_writes_a_complete_tree_marked_as_test_weights(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--home", str(tmp_path / "h"), "models", "make-tiny",
                     str(tmp_path / "tiny"), "--seed", "7", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (report["ready"], report["test_weights"], report["seed"]) == (True, True, 7)
    assert not check_models(tmp_path).ready  # a plain folder is not a model tree
    code = cli.main(["--home", str(tmp_path / "h"), "models", "make-tiny", str(tmp_path / "tiny")])
    assert code == 2 and "is not empty" in capsys.readouterr().err


def test_the_same_seed_gives_the_same_weights(tmp_path: Path, tiny_models: Path) -> None:
    from sonic_ext.sonic.tiny import make_tiny_tree

    again = make_tiny_tree(tmp_path / "again", seed=0)
    first = torch.load(tiny_models / "Sonic" / "unet.pth", weights_only=True)
    second = torch.load(again / "Sonic" / "unet.pth", weights_only=True)
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_an_incomplete_tree_names_what_is_missing(tmp_path: Path, tiny_models: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(tiny_models, broken)
    (broken / "RIFE" / "flownet.pkl").unlink()
    with pytest.raises(ModelsMissing, match=r"RIFE/flownet.pkl \(missing\)"):
        load_models(broken, device="cpu", dtype=torch.float32)


def test_portrait_and_speech_become_an_mp4_as_long_as_the_speech(tiny_models: Path,
                                                                  tmp_path: Path) -> None:
    models = load_models(tiny_models, device="cpu", dtype=torch.float32)
    assert isinstance(models.unet, SonicUNet) and models.rife is not None
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=3.3)
    portrait = Image.open(FACES / "obama.jpg").convert("RGB")
    face_box = [300.0, 250.0, 300.0, 380.0]  # the identity module supplies this in production
    frames = generate_frames(models, portrait, face_box, speech,
                             PipelineSettings(GenerationParams(steps=1, min_resolution=128)))
    video = write_mp4(frames, tmp_path / "talking.mp4", fps=25, audio=speech)
    info = probe(video.path)
    assert (video.width, video.height) == (128, 128)
    assert info["frames"] >= 2 * ((52_800 // 640) // 2) - 1  # 2N-1 frames from RIFE, N = 41
    assert abs(info["video_s"] - 3.3) <= 1 / 25


def _frames_for(models_dir: Path, seconds: float, tmp_path: Path) -> tuple[int, float]:
    """Video frames the pipeline yields for a clip of `seconds`, and the MP4's length."""
    models = load_models(models_dir, device="cpu", dtype=torch.float32)
    speech = write_tone_wav(tmp_path / f"speech-{seconds}.wav", seconds=seconds)
    portrait = Image.open(FACES / "obama.jpg").convert("RGB")
    frames = generate_frames(models, portrait, [300.0, 250.0, 300.0, 380.0], speech,
                             PipelineSettings(GenerationParams(steps=1, min_resolution=128)))
    video = write_mp4(frames, tmp_path / f"clip-{seconds}.mp4", fps=25, audio=speech)
    return video.frames, probe(video.path)["video_s"]


def test_half_a_second_of_speech_works_with_fewer_frames_than_a_window(
        tiny_models: Path, tmp_path: Path) -> None:
    # 0.5 s: N = (8000 // 640) // 2 = 6 generated frames, each window repeats them
    frames, seconds = _frames_for(tiny_models, 0.5, tmp_path)
    assert frames >= 2 * 6 - 1
    assert abs(seconds - 0.5) <= 1 / 25


@pytest.mark.heavy
@pytest.mark.timeout(3600)
def test_ten_minutes_of_speech_work(tiny_models: Path, tmp_path: Path) -> None:
    frames, seconds = _frames_for(tiny_models, 600.0, tmp_path)
    assert frames >= 2 * 3750 - 1
    assert abs(seconds - 600.0) <= 1 / 25


def test_keep_resolution_writes_the_portraits_own_size(tiny_models: Path, tmp_path: Path) -> None:
    """Generated at the min_resolution rule, rescaled at the end, as the official code does."""
    models = load_models(tiny_models, device="cpu", dtype=torch.float32)
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=0.5)
    portrait = Image.open(FACES / "obama.jpg").convert("RGB").resize((301, 257))
    chunks = list(generate_frames(models, portrait, [100.0, 60.0, 100.0, 130.0], speech,
                                  PipelineSettings(GenerationParams(
                                      steps=1, min_resolution=128, keep_resolution=True))))
    assert {tuple(c.shape[-2:]) for c in chunks} == {(256, 300)}
    assert all(0.0 <= float(c.min()) and float(c.max()) <= 1.0 for c in chunks)


@pytest.mark.parametrize(("size", "problem"), [((200, 300), "at least 256 pixels"),
                                                ((5000, 400), "up to 4096 pixels")])
def test_keep_resolution_refuses_sizes_it_cannot_write(tiny_models: Path, tmp_path: Path,
                                                       size: tuple[int, int], problem: str) -> None:
    from sonic_ext import GenerationParams, InputError
    from sonic_ext.sonic.stage import SonicStage

    stage = SonicStage(tiny_models)
    params = GenerationParams(keep_resolution=True, crop=False, device="cpu")
    with pytest.raises(InputError, match=problem) as refused:
        stage.denoise(Image.new("RGB", size), [10.0, 10.0, 50.0, 50.0],
                      write_tone_wav(tmp_path / "s.wav", seconds=0.5), params, seconds=0.5)
    assert refused.value.field == "keep_resolution"
    assert stage._loaded is None  # refused before any model was loaded
