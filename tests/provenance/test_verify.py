"""Verdicts on real signed files: intact, untrusted, tampered, stripped by a re-encode (known to
the registry or not, with or without a fingerprint), our mark copied onto other pictures, and
unmarked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from skimage import data

from sonic_ext import Settings, SonicService
from sonic_ext.adapters import cli
from sonic_ext.consent import ConsentRecord
from sonic_ext.provenance.fingerprint import FingerprintRecorder
from sonic_ext.provenance.keys import init_dev_keys
from sonic_ext.report import render_html

from ..evidence import write_release_pdf
from .conftest import (
    MakeFacts,
    MarkedWriter,
    Published,
    install_mark_key,
    moving_frames,
    publish_marked,
    read_frames,
    reencode,
    write_mp4,
)

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
WATERMARK = "0badc0ffee42"


@pytest.fixture
def installation(tmp_path: Path) -> SonicService:
    service = SonicService(Settings.from_environment({}, home=tmp_path / "home"))
    service.settings.ensure_dirs()
    init_dev_keys(service.settings.keys_dir)
    install_mark_key(service.settings.keys_dir)
    return service


@pytest.fixture
def signed(installation: SonicService, tmp_path: Path, marked_writer: MarkedWriter,
           make_facts: MakeFacts) -> Published:
    """Signed with this installation's keys; not yet in its registry."""
    return publish_marked(tmp_path / "signed.mp4", marked_writer(WATERMARK, 50, 512),
                          make_facts(WATERMARK), installation.credentials())


def test_an_intact_output_of_this_installation_is_authentic(installation: SonicService,
                                                           signed: Published) -> None:
    report = installation.verify(signed.path)
    assert report.verdict == "authentic"
    assert report.c2pa["validation_state"] == "Trusted"
    assert report.watermark["watermark_id"] == WATERMARK
    assert any("development credentials" in r["text"] for r in report.reasons)


def test_another_installation_sees_a_valid_but_untrusted_signer(tmp_path: Path,
                                                                signed: Published) -> None:
    elsewhere = SonicService(Settings.from_environment({}, home=tmp_path / "elsewhere"))
    assert elsewhere.verify(signed.path).verdict == "valid-untrusted"


def test_a_flipped_media_byte_is_tampered(installation: SonicService, signed: Published,
                                          tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    data = bytearray(signed.path.read_bytes())
    mdat = data.rindex(b"mdat")
    data[mdat + 5000] ^= 0xFF
    broken.write_bytes(bytes(data))
    report = installation.verify(broken)
    assert report.verdict == "tampered"
    assert report.reasons[0]["code"] == "c2pa.invalid"


def fingerprint_of(path: Path) -> bytes:
    """The fingerprint publishing records: of the frames as written."""
    recorder = FingerprintRecorder(25)
    recorder.add(read_frames(path))
    return recorder.finish()


def record_signed(service: SonicService, signed: Published, tmp_path: Path,
                  fingerprint: bytes | None) -> ConsentRecord:
    """Record `signed` as a generation of Barack Obama's consent, as publishing does."""
    evidence = write_release_pdf(tmp_path / "release.pdf")
    consent = service.add_consent("Barack Obama", [FACES / "obama.jpg"], evidence,
                                  ["education"], None, "operator", grantees=["any"])
    service.registry.record_generation(consent_id=consent.id, status="published",
                                       actor="test", output_sha256=signed.sha256,
                                       watermark_id=WATERMARK, fingerprint=fingerprint)
    return consent


def test_a_reencoded_copy_is_recovered_through_the_registry(installation: SonicService,
                                                            signed: Published,
                                                            tmp_path: Path) -> None:
    stripped = reencode(signed.path, tmp_path / "stripped.mp4", crf=28)
    assert installation.verify(stripped).verdict == "watermark-unknown"
    consent = record_signed(installation, signed, tmp_path, fingerprint_of(signed.path))
    installation.revoke_consent(consent.id, "withdrawn", "operator")
    report = installation.verify(stripped)
    assert report.verdict == "stripped-recovered"
    assert report.generation["output_sha256"] == signed.sha256
    assert report.consent["id"] == consent.id and report.consent["revoked_at"]
    assert report.content["checked"] and report.content["matched"]
    assert [r["code"] for r in report.reasons] == ["c2pa.absent", "watermark.found",
                                                   "fingerprint.match"]
    # what verify tells about the consent is for sharing: no path on this server
    home = str(installation.settings.home)
    assert "evidence_path" not in report.consent
    assert home not in json.dumps(report.to_dict()) and home not in render_html(report)


def test_our_mark_copied_onto_another_video_is_a_content_mismatch(
        installation: SonicService, signed: Published, tmp_path: Path,
        marked_writer: MarkedWriter, capsys: pytest.CaptureFixture[str]) -> None:
    consent = record_signed(installation, signed, tmp_path, fingerprint_of(signed.path))
    forged = tmp_path / "forged.mp4"  # the same ID stamped onto other pictures
    marked_writer(WATERMARK, 50, 512, data.coffee())(forged)
    report = installation.verify(forged)
    assert report.verdict == "content-mismatch"
    assert report.watermark["watermark_id"] == WATERMARK
    assert report.generation is None and report.consent is None  # never as if it passed
    assert report.content["named_consent"]["id"] == consent.id
    assert report.content["matched"] is False
    mismatch = next(r for r in report.reasons if r["code"] == "watermark.content-mismatch")
    assert "are not that video's" in mismatch["text"]
    home = str(installation.settings.home)
    out = tmp_path / "report.html"
    assert cli.main(["--home", home, "verify", str(forged), "--strict", "--report",
                     str(out)]) == 1
    printed = capsys.readouterr().out
    assert f"{forged}: content-mismatch" in printed and "does NOT cover this file" in printed
    page = out.read_text(encoding="utf-8")
    assert "Watermark and pictures disagree" in page and "NOT this file's pictures" in page
    from sonic_ext.adapters.ui.render import verdict_html

    assert "sonic-verdict-content-mismatch" in verdict_html(report)
    assert "does NOT cover these pictures" in verdict_html(report)


def test_a_copy_of_a_generation_recorded_without_fingerprint_is_unconfirmed(
        installation: SonicService, signed: Published, tmp_path: Path) -> None:
    consent = record_signed(installation, signed, tmp_path, None)
    report = installation.verify(reencode(signed.path, tmp_path / "stripped.mp4", crf=28))
    assert report.verdict == "stripped-unconfirmed"
    assert report.consent["id"] == consent.id and report.content == {"checked": False,
                                                                     "fingerprint": None}
    assert "fingerprint.absent" in [r["code"] for r in report.reasons]


def test_a_valid_manifest_needs_no_fingerprint(installation: SonicService,
                                               signed: Published, tmp_path: Path) -> None:
    record_signed(installation, signed, tmp_path, None)
    report = installation.verify(signed.path)
    assert report.verdict == "authentic" and report.content == {"checked": False}


def test_an_unmarked_video_has_no_provenance(installation: SonicService, tmp_path: Path) -> None:
    plain = write_mp4(tmp_path / "plain.mp4", moving_frames(25, 256))
    report = installation.verify(plain)
    assert report.verdict == "no-provenance"
    assert report.watermark["present"] is False


def test_cli_verify_reports_in_json_and_strict_mode_fails_the_unsigned(
        installation: SonicService, signed: Published, tmp_path: Path,
        marked_writer: MarkedWriter, make_facts: MakeFacts,
        capsys: pytest.CaptureFixture[str]) -> None:
    home = str(installation.settings.home)
    assert cli.main(["--home", home, "verify", str(signed.path), "--json", "--strict"]) == 1
    assert json.loads(capsys.readouterr().out)["verdict"] == "authentic"  # but from dev keys
    assert cli.main(["--home", home, "verify", str(signed.path), "--strict"]) == 1
    assert "strict: fails, signed with development credentials" in capsys.readouterr().out
    # the same file under production credentials (files a CA issued; here our own CA's stand-in)
    issued = init_dev_keys(tmp_path / "issued")
    production = SonicService(Settings.from_environment(
        {"SONIC_SIGNING_CHAIN": str(issued.chain), "SONIC_SIGNING_KEY": str(issued.key),
         "SONIC_TRUST_ANCHORS": str(issued.root_cert)}, home=installation.settings.home))
    shipped = publish_marked(tmp_path / "shipped.mp4", marked_writer(WATERMARK, 50, 512),
                             make_facts(WATERMARK), production.credentials())
    with pytest.MonkeyPatch.context() as env:
        env.setenv("SONIC_SIGNING_CHAIN", str(issued.chain))
        env.setenv("SONIC_SIGNING_KEY", str(issued.key))
        env.setenv("SONIC_TRUST_ANCHORS", str(issued.root_cert))
        assert cli.main(["--home", home, "verify", str(shipped.path), "--strict"]) == 0
    capsys.readouterr()
    copy = tmp_path / "copy.mp4"
    shutil.copy(signed.path, copy)
    plain = write_mp4(tmp_path / "plain.mp4", moving_frames(25, 256))
    assert cli.main(["--home", home, "verify", str(plain), "--strict"]) == 1
    assert "no-provenance" in capsys.readouterr().out
    assert cli.main(["--home", home, "verify", str(tmp_path / "missing.mp4")]) == 2


def test_cli_api_and_ui_give_the_same_verdict(installation: SonicService,
                                              signed: Published, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    import httpx

    from sonic_ext.adapters.api.auth import ApiAuth
    from sonic_ext.adapters.app import create_app
    from sonic_ext.adapters.ui.verify import VerifyHandlers
    from tests.servers import serve_in_thread

    stripped = reencode(signed.path, tmp_path / "stripped.mp4", crf=28)
    for path, expected in ((signed.path, "authentic"), (stripped, "watermark-unknown")):
        assert cli.main(["--home", str(installation.settings.home), "verify", str(path),
                         "--json"]) == 0
        cli_report = json.loads(capsys.readouterr().out)
        from_cli = cli_report["verdict"]
        with serve_in_thread(create_app(installation, ApiAuth())) as base, path.open("rb") as fh:
            answer = httpx.post(f"{base}/sonic/v1/verify", files={"file": fh}, timeout=60)
        assert answer.status_code == 200
        verdict_html, report_file, _inline = VerifyHandlers(installation).verify(str(path))
        assert from_cli == answer.json()["verdict"] == expected
        # this output was signed without consent credentials: all three say so alike
        assert cli_report["consent_check"] == answer.json()["consent_check"]
        if path == signed.path:
            assert cli_report["consent_check"]["verdict"] == "absent"
            assert "Consent credential: <b>absent</b>" in verdict_html
        assert f"sonic-verdict-{expected}'>{expected}<" in verdict_html
        assert path.name in Path(report_file).read_text(encoding="utf-8")


def test_the_html_report_is_self_contained_and_renders_in_a_browser(
        installation: SonicService, signed: Published, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    from playwright.sync_api import expect

    from tests.ui.browser import browser

    out = tmp_path / "report.html"
    assert cli.main(["--home", str(installation.settings.home), "verify", str(signed.path),
                     "--report", str(out)]) == 0
    assert f"report: {out}" in capsys.readouterr().out
    page_html = out.read_text()
    assert "<script" not in page_html and "http" not in page_html.split("<body>")[1][:20_000]
    assert page_html.count("data:image/jpeg;base64,") == 4
    shot = tmp_path / "report.png"
    with browser() as chrome:
        page = chrome.new_page(viewport={"width": 1100, "height": 1400})
        page.goto(out.as_uri())
        expect(page.locator("#verdict .badge")).to_have_text("Authentic")
        expect(page.locator("#watermark-plot circle")).to_have_count(
            installation.verify(signed.path).watermark["frames_checked"])
        page.locator("#technical summary").click()  # the manifest's data, behind the fold
        expect(page.locator("#technical pre")).to_contain_text("c2pa.soft-binding")
        assert page.evaluate("[...document.images].every(i => i.naturalWidth > 0)")
        page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000
