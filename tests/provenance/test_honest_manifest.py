"""The manifest says what really ran and `verify --strict` holds outputs to it (issue 15): test
weights, the device and dtype actually used, development credentials, a consent revoked since,
and bytes added outside what C2PA signs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonic_ext import GenerateRequest, GenerateResult, GenerationParams, SonicService
from sonic_ext.adapters import cli
from sonic_ext.adapters.ui.render import provenance_html, verdict_html
from sonic_ext.provenance.labels import GENERATION_LABEL
from sonic_ext.report import render_html
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"


@pytest.fixture
def made(obama_consented: SonicService, tmp_path: Path) -> GenerateResult:
    # asks for fp16 on `auto`: on this CPU the pipeline runs fp32, and the manifest must say so
    params = GenerationParams(steps=1, min_resolution=256, seed=0, dtype="fp16", device="auto")
    return obama_consented.generate(GenerateRequest(
        FACES / "obama2.jpg", write_tone_wav(tmp_path / "speech.wav"), tmp_path / "out.mp4",
        "education", params, consent_ids=consent_ids(obama_consented)))


def _strict(service: SonicService, path: Path, capsys: pytest.CaptureFixture[str]
            ) -> tuple[int, list[str]]:
    code = cli.main(["--home", str(service.settings.home), "--models-dir",
                     str(service.settings.models_dir), "verify", str(path), "--strict"])
    return code, [line for line in capsys.readouterr().out.splitlines() if "strict" in line]


def test_the_manifest_names_test_weights_and_the_runtime_that_ran(
        obama_consented: SonicService, made: GenerateResult) -> None:
    report = obama_consented.verify(made.out)
    assert report.verdict == "authentic"
    generation = report.c2pa["assertions"][GENERATION_LABEL]
    assert generation["test_weights"] is True and report.c2pa["test_weights"] is True
    assert generation["parameters"]["dtype"] == "fp16"  # what was asked for ...
    assert generation["runtime"] == {"device": "cpu", "dtype": "fp32", "offload": "none"}
    agents = {a["softwareAgent"]["name"] for a in
              report.c2pa["assertions"]["c2pa.actions.v2"]["actions"]}
    assert all("TEST WEIGHTS" in name for name in agents)
    codes = {reason["code"] for reason in report.reasons}
    assert {"weights.test", "credentials.development"} <= codes
    # and prominently, above the verdict, in the UI and in the HTML report
    banner = "Made with seeded TEST WEIGHTS (models make-tiny), not the Sonic model"
    assert verdict_html(report).startswith(
        f"<div class='sonic-verdict-block'><p class='sonic-test-weights'>{banner}")
    assert provenance_html(made, report).startswith(f"<p class='sonic-test-weights'>{banner}")
    page = render_html(report)
    assert page.index(banner) < page.index("id='verdict'")


def test_no_test_weights_banner_for_a_file_that_does_not_say_so(service: SonicService,
                                                                 portrait: Path) -> None:
    report = service.verify(portrait)
    assert "TEST WEIGHTS" not in verdict_html(report) + render_html(report)


def test_strict_fails_test_weights_dev_credentials_revoked_consent_and_appended_bytes(
        obama_consented: SonicService, made: GenerateResult, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    code, lines = _strict(obama_consented, made.out, capsys)
    assert code == 1
    assert any("test weights" in line for line in lines)
    assert any("development credentials" in line for line in lines)

    padded = tmp_path / "padded.mp4"
    extra = 100_000  # a well-formed `free` box: a payload riding along after the last box
    padded.write_bytes(made.out.read_bytes() + (extra + 8).to_bytes(4, "big") + b"free"
                       + b"\x5a" * extra)
    report = obama_consented.verify(padded)
    assert report.verdict == "authentic"  # C2PA does not hash bytes after the last box ...
    assert "file.differs" in {r["code"] for r in report.reasons}  # ... the registry does
    assert "its bytes differ from the published output's" in report.strict_failures()

    obama_consented.revoke_consent(made.consent_id, "withdrawn", "test operator")
    revoked = obama_consented.verify(made.out)
    assert "its consent is revoked now" in revoked.strict_failures()
    assert json.dumps(revoked.to_dict())  # the report stays serialisable
