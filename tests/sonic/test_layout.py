from __future__ import annotations

import json
import os
from pathlib import Path


from sonic_ext.sonic.layout import OFFICIAL_LAYOUT, check_models

SUMMARY = Path(__file__).resolve().parents[1] / "fixtures" / "sonic_state_dict" / "summary.json"


def _make(models_dir: Path, relative: str, size: int) -> None:
    target = models_dir / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    with target.open("wb") as fh:
        fh.truncate(size)  # sparse: a 6 GB stand-in costs no disk


def test_empty_folder_reports_every_file_missing(tmp_path: Path) -> None:
    status = check_models(tmp_path)
    assert not status.ready
    assert [f.state for f in status.files] == ["missing"] * len(OFFICIAL_LAYOUT)


def test_files_of_the_official_sizes_make_the_folder_ready(tmp_path: Path) -> None:
    for entry in OFFICIAL_LAYOUT:
        _make(tmp_path, entry.path, entry.size if entry.size is not None else 10)
    status = check_models(tmp_path)
    assert status.ready, [f.to_dict() for f in status.problems]
    assert status.summary() == {"models_dir": str(tmp_path), "ready": True,
                                "present": len(OFFICIAL_LAYOUT), "expected": len(OFFICIAL_LAYOUT),
                                "test_weights": False}


def test_a_truncated_checkpoint_is_reported_with_both_sizes(tmp_path: Path) -> None:
    for entry in OFFICIAL_LAYOUT:
        _make(tmp_path, entry.path, entry.size if entry.size is not None else 10)
    _make(tmp_path, "Sonic/unet.pth", 1_000_000)
    (problem,) = check_models(tmp_path).problems
    assert problem.to_dict() | {"source": ""} == {
        "path": "Sonic/unet.pth", "component": "unet", "state": "wrong-size",
        "expected_size": 6_303_636_358, "found_size": 1_000_000, "source": ""}


def test_a_folder_in_place_of_a_file_counts_as_missing(tmp_path: Path) -> None:
    (tmp_path / "RIFE" / "flownet.pkl").mkdir(parents=True)
    states = {f.file.path: f.state for f in check_models(tmp_path).files}
    assert states["RIFE/flownet.pkl"] == "missing"


def test_known_sizes_match_the_reference_summary() -> None:
    sizes = json.loads(SUMMARY.read_text())["_about"]["checkpoint_file_sizes_bytes"]
    ours = {e.path: e.size for e in OFFICIAL_LAYOUT if e.size is not None}
    assert ours == {k: v for k, v in sizes.items() if k in ours}
    assert set(ours) == {"Sonic/unet.pth", "Sonic/audio2token.pth", "Sonic/audio2bucket.pth",
                         "RIFE/flownet.pkl"}


def test_sparse_files_really_are_sparse(tmp_path: Path) -> None:
    _make(tmp_path, "big.bin", 6_303_636_358)
    assert os.stat(tmp_path / "big.bin").st_blocks * 512 < 1_000_000
