"""Batches: each item passes the consent gate and is signed on its own, a refused or broken item
is reported while the rest go on, the summary names every outcome, and a re-run resumes."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from sonic_ext import InputError, SonicService
from sonic_ext.adapters import cli
from sonic_ext.batch import BatchDefaults, read_jobs, run_batch
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
FAST = {"steps": 1, "min_resolution": 256, "seed": 0}


@pytest.fixture
def jobs_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    for face in ("obama2.jpg", "biden.jpg"):
        shutil.copy(FACES / face, folder / face)
    for name, seconds in (("intro", 1.2), ("part1", 1.5)):
        write_tone_wav(folder / f"{name}.wav", seconds=seconds)
    return folder


def write_csv(folder: Path, rows: list[dict[str, str]]) -> Path:
    path = folder / "jobs.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_a_mixed_batch_makes_exactly_the_consented_videos_and_names_each_refusal(
        obama_consented: SonicService, jobs_folder: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    [consent] = consent_ids(obama_consented)
    jobs = write_csv(jobs_folder, [
        {"portrait": "obama2.jpg", "audio": "intro.wav", "out": "", "preset": "", "steps": ""},
        {"portrait": "biden.jpg", "audio": "intro.wav", "out": "", "preset": "", "steps": ""},
        {"portrait": "obama2.jpg", "audio": "missing.wav", "out": "", "preset": "",
         "steps": ""},
        {"portrait": "obama2.jpg", "audio": "part1.wav", "out": "part-one.mp4",
         "preset": "fast", "steps": "2"},
    ])
    out_dir = tmp_path / "videos"
    code = cli.main(["--home", str(obama_consented.settings.home), "--models-dir",
                     str(obama_consented.settings.models_dir), "batch", str(jobs),
                     "--out-dir", str(out_dir), "--purpose", "education", "--consent", consent,
                     "--min-resolution", "256", "--steps", "1", "--seed", "0", "--json"])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    assert code == 1  # not every item made a video
    assert result["counts"] == {"done": 2, "skipped": 0, "refused": 1, "failed": 1}
    made = sorted(p.name for p in out_dir.glob("*.mp4"))
    assert made == ["obama2-intro.mp4", "part-one.mp4"]  # the consented ones, nothing else
    for name in made:
        assert obama_consented.verify(out_dir / name).verdict == "authentic"
    by_line = {item["line"]: item for item in result["items"]}
    assert by_line[3]["state"] == "refused" and "is not Barack Obama" in by_line[3]["error"]
    assert by_line[4]["state"] == "failed" and "file not found" in by_line[4]["error"]
    assert by_line[2]["watermark_id"] and len(by_line[2]["sha256"]) == 64
    record = obama_consented.registry.find_generation(watermark_id=by_line[5]["watermark_id"])
    assert record is not None and record.parameters["steps"] == 2  # the item's own value
    assert record.parameters["interpolate"] is False  # from its preset

    with (out_dir / "batch-summary.csv").open() as handle:
        summary = list(csv.DictReader(handle))
    assert [row["state"] for row in summary] == ["done", "refused", "failed", "done"]
    assert json.loads((out_dir / "batch-summary.json").read_text())["counts"] == \
        result["counts"]
    assert "[2/4] refused:" in captured.err and "[1/4 obama2-intro.mp4] [denoise]" in \
        captured.err


def test_a_batch_killed_half_way_resumes_where_it_stopped(
        obama_consented: SonicService, jobs_folder: Path, tmp_path: Path) -> None:
    jobs = jobs_folder / "jobs.jsonl"
    jobs.write_text("\n".join(json.dumps(item) for item in [
        {"portrait": "obama2.jpg", "audio": "intro.wav", **FAST},
        {"portrait": "obama2.jpg", "audio": "part1.wav", **FAST},
    ]) + "\n")
    out_dir = tmp_path / "videos"
    defaults = BatchDefaults("education", consent_ids(obama_consented))
    items = read_jobs(jobs)

    def killed_after_the_first(index: int, outcome, event) -> None:  # noqa: ANN001
        if index == 1 and outcome.state == "running":
            raise KeyboardInterrupt  # Ctrl-C as the second item starts

    with pytest.raises(KeyboardInterrupt):
        run_batch(obama_consented, items, defaults, jobs_folder, out_dir, "cli:test",
                  killed_after_the_first)
    assert [p.name for p in out_dir.glob("*.mp4")] == ["obama2-intro.mp4"]
    published = len(obama_consented.registry.published_watermark_ids())

    again = run_batch(obama_consented, items, defaults, jobs_folder, out_dir, "cli:test")
    assert [o.state for o in again] == ["skipped", "done"]
    assert again[0].sha256 and again[0].watermark_id
    assert len(obama_consented.registry.published_watermark_ids()) == published + 1

    (out_dir / "obama2-part1.mp4").write_bytes(b"not a video of ours")  # replaced meanwhile
    third = run_batch(obama_consented, items, defaults, jobs_folder, out_dir, "cli:test")
    assert [o.state for o in third] == ["skipped", "failed"]
    assert "exists and is not an authentic output" in third[1].error
    assert (out_dir / "obama2-part1.mp4").read_bytes() == b"not a video of ours"  # left alone


@pytest.mark.parametrize(("name", "text", "problem"), [
    ("jobs.csv", "portrait,audio,colour\na.jpg,b.wav,red\n", "unknown field 'colour'"),
    ("jobs.csv", "portrait,purpose\na.jpg,education\n", "needs a portrait and an audio"),
    ("jobs.jsonl", '{"portrait": "a.jpg", "audio": "b.wav"}\n[1, 2]\n',
     "line 2: an object was expected"),
    ("jobs.txt", "portrait,audio\n", "a jobs file is .csv or .jsonl"),
    ("jobs.csv", "portrait,audio\n", "lists no items"),
])
def test_a_malformed_jobs_file_is_refused_before_any_work(tmp_path: Path, name: str, text: str,
                                                          problem: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(InputError, match=problem):
        read_jobs(path)
