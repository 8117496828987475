"""The whole product on one portrait: consent, gate, Sonic (tiny test weights), watermark,
H.264 + AAC, C2PA signing, atomic publish and the manifest store: real libraries throughout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sonic_ext import (
    ConsentRefused,
    GenerateRequest,
    GenerationParams,
    ProgressEvent,
    SonicService,
)
from sonic_ext.adapters import cli
from sonic_ext.media.encode import probe
from tests.conftest import consent_ids, write_tone_wav
from tests.evidence import write_release_pdf
from tests.group_photo import group_photo
from tests.provenance.conftest import reencode
from tests.raw_database import raw

FACES = Path(__file__).resolve().parent / "fixtures" / "faces"
FAST = GenerationParams(steps=1, min_resolution=256, seed=0)


@pytest.fixture
def studio(obama_consented: SonicService) -> SonicService:
    return obama_consented


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Long enough for several denoising windows; tests that do not need them take the 1 s
    `speech_wav`."""
    return write_tone_wav(tmp_path_factory.mktemp("audio") / "speech.wav", seconds=3.3)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_consented_face_becomes_a_signed_watermarked_mp4(studio: SonicService, speech: Path,
                                                           tmp_path: Path) -> None:
    """On either registry database: SQLite (the default) or PostgreSQL (SONIC_DB_URL)."""
    from sonic_ext.provenance.reading import read_provenance
    from sonic_ext.provenance.trust import TrustPolicy

    out = tmp_path / "talking.mp4"
    events: list[ProgressEvent] = []
    result = studio.generate(GenerateRequest(FACES / "obama2.jpg", speech, out, "education",
                                             FAST, consent_ids=consent_ids(studio)),
                             progress=events.append)
    assert result.out == out and out.is_file()
    assert out.stat().st_mode & 0o777 == 0o644  # readable like any output, unlike the temp files
    assert result.credentials == "development credentials"
    info = probe(out)
    assert abs(info["video_s"] - 3.3) <= 1 / 25  # as long as the speech, to one frame
    assert {e.stage for e in events} >= {"check inputs", "denoise", "decode and encode",
                                         "sign and publish"}
    encoded = [e for e in events if e.stage == "decode and encode"]
    assert encoded[-1].step == encoded[-1].total == round(3.3 * 25)  # every frame reported
    assert events[-1].stage == "sign and publish" and events[-1].fraction == 1.0

    reading = read_provenance(out, TrustPolicy.for_keys_dir(studio.settings.keys_dir),
                              studio.watermark_key(create=False))
    assert reading.to_dict()["watermark"]["watermark_id"] == result.watermark_id
    assert reading.manifest is not None
    assert reading.manifest.validation_state == "Trusted"
    assert reading.manifest.development_credentials
    assert reading.manifest.consent["consent_id"] == result.consent_id

    stored = studio.registry.find_generation(watermark_id=result.watermark_id)
    assert stored is not None and stored.status == "published"
    assert stored.output_sha256 == result.sha256

    # what an auditor gets: the output itself, then a re-encoded copy without its manifest
    assert studio.verify(out).verdict == "authentic"
    stripped = reencode(out, tmp_path / "reencoded.mp4", crf=28)
    report = studio.verify(stripped)
    assert report.verdict == "stripped-recovered"
    assert report.generation["id"] == result.generation_id
    assert report.consent["id"] == result.consent_id
    assert studio.verify_audit_chain().ok
    assert list(tmp_path.glob(".sonic-publish*")) == []

    # the manifest anchors the audit log: the checkpoint of its gate decision, signed by the
    # consent key, still names a rewrite after every checkpoint in the database was redone
    assert reading.manifest.consent["audit_checkpoint"].split("\n")[1] == str(
        reading.manifest.consent["audit_seq"])
    anchored = studio.verify_audit_chain([out])
    assert anchored.ok and anchored.anchors_checked == 2  # the manifest and the home's file
    with raw(studio.settings) as db:
        db.execute("DELETE FROM audit_events WHERE seq > ?",
                   (reading.manifest.consent["audit_seq"] - 1,))
    problems = studio.verify_audit_chain([out]).problems
    assert any(p.startswith("manifest of talking.mp4: the consent key signed a log of")
               for p in problems)


def test_someone_without_consent_gets_nothing(studio: SonicService, speech: Path,
                                              tmp_path: Path) -> None:
    out = tmp_path / "biden.mp4"
    with pytest.raises(ConsentRefused, match="is not Barack Obama"):
        studio.generate(GenerateRequest(FACES / "biden.jpg", speech, out, "education", FAST,
                                        consent_ids=consent_ids(studio)))
    assert not out.exists()


def test_a_revocation_during_generation_stops_the_publish(studio: SonicService,
                                                          speech_wav: Path,
                                                          tmp_path: Path) -> None:
    out = tmp_path / "late.mp4"
    (consent,) = studio.list_consents()

    def revoke_midway(event: ProgressEvent) -> None:
        if event.stage == "denoise" and event.step == 1:
            studio.revoke_consent(consent.id, "withdrawn during the run", "test operator")

    with pytest.raises(ConsentRefused, match="changed while the video was being made"):
        studio.generate(GenerateRequest(FACES / "obama2.jpg", speech_wav, out, "education",
                                        FAST, consent_ids=(consent.id,)),
                        progress=revoke_midway)
    assert not out.exists()
    assert list(tmp_path.glob(".sonic-publish*")) == []
    assert studio.verify_audit_chain().ok


@pytest.mark.parametrize("revoked", ["Barack Obama", "Joe Biden"])
def test_revoking_either_persons_consent_during_generation_stops_the_publish(
        studio: SonicService, speech_wav: Path, tmp_path: Path, revoked: str) -> None:
    """F4: two consented people in the video; revoking the one who is not animated stops the
    publish too, on every surface (they all publish through `service.run`)."""
    group_photo(tmp_path / "pair.jpg", ("biden", "obama"))
    studio.add_consent("Joe Biden", [FACES / "biden.jpg"],
                       write_release_pdf(tmp_path / "biden.pdf"), ["education"], None,
                       "test operator", grantees=["any"])
    by_name = {c.subject_name: c.id for c in studio.list_consents()}
    out = tmp_path / "pair.mp4"
    whole = GenerationParams(steps=1, min_resolution=256, seed=0, crop=False)

    def revoke_midway(event: ProgressEvent) -> None:
        if event.stage == "denoise" and event.step == 1:
            studio.revoke_consent(by_name[revoked], "withdrawn during the run", "operator")

    with pytest.raises(ConsentRefused, match="changed while the video was being made"):
        studio.generate(GenerateRequest(tmp_path / "pair.jpg", speech_wav, out, "education",
                                        whole, consent_ids=tuple(by_name.values())),
                        progress=revoke_midway)
    assert not out.exists() and list(tmp_path.glob(".sonic-publish*")) == []


def test_the_cli_generates_with_exit_0_and_one_json_object(
        studio: SonicService, speech_wav: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.mp4"
    code = cli.main(["--home", str(studio.settings.home), "--models-dir",
                     str(studio.settings.models_dir), "generate", "--image",
                     str(FACES / "obama2.jpg"), "--audio", str(speech_wav), "--out", str(out),
                     "--purpose", "education", "--steps", "1", "--min-resolution", "256",
                     "--consent", consent_ids(studio)[0], "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0
    assert report["out"] == str(out) and out.is_file()
    assert report["credentials"] == "development credentials"


def test_an_auditor_with_only_the_bundle_checks_the_consent_offline(
        studio: SonicService, speech_wav: Path, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A fresh home on 'another machine': no registry, no keys of ours, only the bundle."""
    out = tmp_path / "talking.mp4"
    result = studio.generate(GenerateRequest(FACES / "obama2.jpg", speech_wav, out,
                                             "education", FAST,
                                             consent_ids=consent_ids(studio)))
    here = studio.verify(out)
    assert (here.verdict, here.consent_check["verdict"]) == ("authentic", "in-force")
    assert here.consent_check["consent_id"] == result.consent_id
    assert here.consent_check["issuer"].startswith("Sonic development consent registry")
    assert here.consent_check["identity"]["state"] == "valid"  # the registry's CAWG assertion

    def audit(bundle: Path) -> dict:
        code = cli.main(["--home", str(tmp_path / "auditor"), "verify", str(out), "--bundle",
                         str(bundle), "--json"])
        assert code == 0
        return json.loads(capsys.readouterr().out)

    cli.main(["--home", str(studio.settings.home), "auditor-bundle", "--out",
              str(tmp_path / "bundle"), "--json"])
    capsys.readouterr()
    offline = audit(tmp_path / "bundle")
    assert offline["verdict"] == "authentic"  # the bundle's content anchors
    assert offline["consent_check"]["verdict"] == "in-force"
    assert offline["consent_check"]["identity"]["state"] == "valid"
    assert offline["consent"] is None  # the auditor's (empty) registry knows nothing
    # without the bundle the auditor's machine trusts neither signer
    code = cli.main(["--home", str(tmp_path / "auditor"), "verify", str(out), "--json"])
    alone = json.loads(capsys.readouterr().out)
    assert code == 0 and alone["consent_check"]["verdict"] == "issuer-untrusted"

    studio.revoke_consent(result.consent_id, "withdrawn", "operator")
    assert audit(tmp_path / "bundle")["consent_check"]["verdict"] == "in-force"  # old list
    cli.main(["--home", str(studio.settings.home), "auditor-bundle", "--out",
              str(tmp_path / "bundle"), "--json"])
    capsys.readouterr()
    assert audit(tmp_path / "bundle")["consent_check"]["verdict"] == "revoked"
    assert studio.verify(out).consent_check["verdict"] == "revoked"  # the operator's own list
