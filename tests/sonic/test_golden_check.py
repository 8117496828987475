"""`dev golden-check`: our whole pipeline against the official one on tiny random weights."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from sonic_ext.adapters import cli
from tests.sonic.golden_cases import CASES


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_every_recorded_tensor_is_reproduced(case: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--home", str(tmp_path), "dev", "golden-check", str(case), "--json"])
    report = json.loads(capsys.readouterr().out)
    failed = [c for c in report["comparisons"] if not c["ok"]]
    assert failed == []
    assert code == 0
    names = {c["name"] for c in report["comparisons"]}
    manifest = json.loads((case / "expected" / "manifest.json").read_text())
    assert names == {t["name"] for t in manifest["tensors"]}
    assert any(n.startswith("windows/s1_w") for n in names)  # per-window UNet calls


@pytest.mark.heavy
def test_the_compiled_unet_reproduces_every_recorded_tensor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """compile_unet: torch.compile's forward gives the same frames within the golden tolerances
    (minutes of compiling on a CPU, hence heavy; bench/gpu_check.sh runs it on the GPU machine)."""
    code = cli.main(["--home", str(tmp_path), "dev", "golden-check", str(CASES[0]),
                     "--compile-unet", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert [c["name"] for c in report["comparisons"] if not c["ok"]] == []
    assert code == 0 and len(report["comparisons"]) > 50


def test_a_missing_window_shift_fails_in_the_windows(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "case_no_shift"
    shutil.copytree(CASES[0], broken)
    params_file = broken / "inputs" / "params.json"
    params = json.loads(params_file.read_text())
    params["shift_offset"] = 0
    params_file.write_text(json.dumps(params))
    code = cli.main(["--home", str(tmp_path / "home"), "dev", "golden-check", str(broken)])
    out = capsys.readouterr().out
    assert code == 1
    failed = [line.split()[0] for line in out.splitlines() if line.endswith("FAIL")]
    assert "windows/s1_w0_unet_sample" in failed and "windows/s1_w0_unet_out" in failed
    assert not any(name.startswith(("audio", "preprocess", "windows/s0")) for name in failed)
    assert "FAILED: " in out.splitlines()[-1]
