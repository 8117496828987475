"""`models keys`: the full-size modules' layout equals the official checkpoints' exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonic_ext import cli
from sonic_ext.sonic.components import COMPONENTS

REFERENCE = Path(__file__).resolve().parents[1] / "fixtures" / "sonic_state_dict"
REFERENCE_FILE = {"unet": "sonic_unet.json", "audio2token": "audio2token.json",
                  "audio2bucket": "audio2bucket.json", "rife": "rife_ifnet.json"}


def test_cli_offers_every_component() -> None:
    assert set(cli.COMPONENTS) == set(COMPONENTS)


@pytest.mark.parametrize("component", COMPONENTS)
def test_keys_shapes_and_order_equal_the_reference(component: str, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--home", str(tmp_path), "models", "keys", "--component", component,
                     "--json"])
    assert code == 0
    ours = json.loads(capsys.readouterr().out)["keys"]
    assert ours == json.loads((REFERENCE / REFERENCE_FILE[component]).read_text())
