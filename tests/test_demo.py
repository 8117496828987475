"""`sonic-ext demo` and the standalone page's demo offer: one signed, verified video in a separate
demo home, from the public-domain portrait, a demo consent and test weights, never in the
installation's own registry."""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import pytest

from sonic_ext import Settings, SonicService
from sonic_ext.adapters import cli
from sonic_ext.adapters.demo import DEMO_PURPOSE, DEMO_SUBJECT, _demo_consent, demo_home
from sonic_ext.adapters.ui.generate import GenerateHandlers


def test_the_demo_makes_one_signed_video_in_its_own_home(
        service: SonicService, capsys: pytest.CaptureFixture[str]) -> None:
    home = service.settings.home
    code = cli.main(["--home", str(home), "demo", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["verdict"] == "authentic"
    demo = Path(payload["demo_home"])
    assert demo == demo_home(service.settings).absolute()
    assert Path(payload["out"]).parent == demo / "outputs" and Path(payload["out"]).is_file()

    demo_service = SonicService(Settings.from_environment({}, home=demo,
                                                          models_dir=demo / "models"))
    [consent] = demo_service.list_consents()
    assert (consent.subject_name, consent.purposes) == (DEMO_SUBJECT, (DEMO_PURPOSE,))
    assert _demo_consent(demo_service) == consent.id  # a second run reuses it
    assert demo_service.models_status().test_weights
    assert service.list_consents() == []  # the installation's own registry is untouched
    report = demo_service.verify(Path(payload["out"]))
    assert report.made_with_test_weights


def test_the_demo_refuses_a_folder_that_is_not_a_demo_home(
        service: SonicService, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.main(["--home", str(service.settings.home), "demo", "--demo-home",
                     str(service.settings.home)])
    assert code == 2
    assert "is not a demo home" in capsys.readouterr().err


def test_the_page_offers_the_demo_only_while_no_consent_exists(
        obama_consented: SonicService, tmp_path: Path) -> None:
    empty = Settings.from_environment({}, home=tmp_path / "empty")
    assert GenerateHandlers(SonicService(empty)).demo_offer() == gr.update(visible=True)
    assert GenerateHandlers(obama_consented).demo_offer() == gr.update(visible=False)
    in_webui = Settings.from_environment({}, home=tmp_path / "webui", host="webui")
    assert GenerateHandlers(SonicService(in_webui)).demo_offer() == gr.update(visible=False)
