"""The lip-sync check finds a known audio/video offset within one frame, and says "no face",
"no speech" or "no clear offset" instead of a number when there is none to give."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from sonic_ext import InputError
from sonic_ext.adapters import cli
from sonic_ext.lip_sync import check_video
from sonic_ext.media.encode import write_mp4
from tests.talking_video import FPS, MouthWarp, speech_like, talking_video, write_wav

FRAME_MS = 1000 / FPS


@pytest.fixture(scope="module")
def warp() -> MouthWarp:
    return MouthWarp()


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("talking")


@pytest.mark.parametrize("offset_ms", [-160, 0, 80, 200])
def test_a_known_offset_is_found_within_one_frame(warp: MouthWarp, videos: Path,
                                                   offset_ms: int) -> None:
    video = talking_video(videos / f"offset{offset_ms}.mp4", offset_ms, seconds=5, warp=warp)
    check = check_video(video)
    assert check.status == "measured" and check.reliable, check
    assert abs(check.offset_ms - offset_ms) <= FRAME_MS, check
    assert check.face_frames == check.frames == 5 * FPS
    late = "in sync" if offset_ms == 0 else f"{abs(check.offset_ms)} ms " + (
        "late" if offset_ms > 0 else "early")
    assert late in check.message


def test_a_mouth_that_says_something_else_has_no_clear_offset(warp: MouthWarp,
                                                              videos: Path) -> None:
    video = talking_video(videos / "dubbed.mp4", 0, seconds=5, mouth_seed=99, warp=warp)
    check = check_video(video)
    assert check.status == "measured" and not check.reliable, check
    assert check.message.startswith("no clear offset")


def test_no_sound_track_or_a_silent_one_is_no_speech(warp: MouthWarp, tmp_path: Path) -> None:
    frames = [warp.frame(0.0)[None]] * 30
    mute = write_mp4(frames, tmp_path / "mute.mp4", fps=FPS).path
    assert check_video(mute).status == "no_speech"
    silence = write_wav(tmp_path / "silence.wav", np.zeros(16000 * 2, np.float32))
    hushed = write_mp4(frames, tmp_path / "hushed.mp4", fps=FPS, audio=silence).path
    check = check_video(hushed)
    assert (check.status, check.offset_ms) == ("no_speech", None)
    assert "silent" in check.message


def test_a_video_without_a_face_is_no_face(warp: MouthWarp, tmp_path: Path) -> None:
    curtain = np.ascontiguousarray(warp.image[:128, :128].astype(np.uint8))  # the background
    frames = [np.kron(curtain, np.ones((2, 2, 1), np.uint8))[None]] * (2 * FPS)
    speech = write_wav(tmp_path / "speech.wav", speech_like(2.0)[0])
    video = write_mp4(frames, tmp_path / "curtain.mp4", fps=FPS, audio=speech).path
    check = check_video(video)
    assert (check.status, check.offset_ms, check.face_frames) == ("no_face", None, 0)
    assert "no face found in 50 of 50 frames" in check.message


def test_too_short_or_not_a_video_is_an_input_error(warp: MouthWarp, tmp_path: Path) -> None:
    speech = write_wav(tmp_path / "speech.wav", speech_like(0.6)[0])
    short = write_mp4([warp.frame(0.5)[None]] * 15, tmp_path / "short.mp4", fps=FPS,
                      audio=speech).path
    with pytest.raises(InputError, match="0.60 s long; at least 1 s is needed"):
        check_video(short)
    with pytest.raises(InputError, match="has no video stream"):
        check_video(speech)
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(InputError, match="cannot be read as a video"):
        check_video(text)


def test_the_cli_says_the_offset_and_how_to_correct_it(videos: Path, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str],
                                                       warp: MouthWarp) -> None:
    video = talking_video(videos / "cli.mp4", 120, seconds=4, warp=warp)
    assert cli.main(["--home", str(tmp_path / "home"), "sync-check", str(video)]) == 0
    said = capsys.readouterr().out
    assert "the sound is 120 ms late" in said and "move the sound 120 ms earlier" in said
    assert cli.main(["--home", str(tmp_path / "home"), "sync-check", str(video), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == {**check_video(video).to_dict()} and printed["offset_ms"] == 120
    assert cli.main(["--home", str(tmp_path / "home"), "sync-check", str(tmp_path / "no.mp4")
                     ]) == 2
    assert "VIDEO: file not found" in capsys.readouterr().err
