"""Where the golden cases live for tests: the copies in tests/fixtures (a fresh clone has no
../shared), plus any further case a developer drops beside them."""

from __future__ import annotations

from pathlib import Path

import torch

from sonic_ext.sonic.golden import GoldenCase

GOLDEN_ROOT = Path(__file__).resolve().parents[1] / "fixtures" / "sonic_golden"
CASES = sorted(p for p in GOLDEN_ROOT.glob("case_*") if p.is_dir())


def assert_close(case: GoldenCase, name: str, actual: torch.Tensor) -> float:
    """Equal shape and max abs error within the manifest's tolerance; returns the error."""
    result = case.compare(name, actual)
    assert result.ok, result.to_dict()
    return result.max_abs
