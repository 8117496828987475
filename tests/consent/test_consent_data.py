"""Finding F11: consent data is checked as what it claims to be.

Each attack below was accepted before (a 1-byte "release", random bytes, a name carrying
terminal escapes or a fake "REVOKED" line, a Cyrillic look-alike purpose) and is refused now;
rows stored before the checks are escaped wherever they are listed.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from sonic_ext import Settings
from sonic_ext.adapters import cli
from sonic_ext.adapters.ui.consent import HEADERS, consent_rows
from sonic_ext.consent.evidence import (
    MIN_EVIDENCE_BYTES,
    PGP_CLEARSIGNED,
    PGP_MESSAGE,
    check_evidence_file,
    store_evidence,
)
from sonic_ext.consent.fields import (
    PURPOSE_PATTERN,
    check_allowed_purpose,
    check_purpose,
    check_text,
    printable,
)
from sonic_ext.errors import InputError
from sonic_ext.media.sniff import PDF
from sonic_ext.policy import SCHEMA

from ..conftest import write_tone_wav
from ..evidence import (
    DEMO_RELEASE,
    DEMO_TEXT,
    EXAMPLE_RELEASE,
    EXAMPLE_TEXT,
    clearsigned_text,
    release_pdf,
    write_release_pdf,
)
from ..raw_database import raw
from .conftest import FACES, enrol

ANSI_NAME = "Barack \x1b[31mObama\x1b[0m"
FAKE_REVOKED_LINE = "Barack Obama\ncon_0123456789ab  Barack Obama  purposes education  REVOKED"
CYRILLIC_TEST = "t\u0435st"  # "tеst": the e is U+0435 CYRILLIC SMALL LETTER IE


def _random_bytes(path: Path, size: int = 600) -> Path:
    path.write_bytes(random.Random(11).randbytes(size))
    return path


def _padded(head: bytes, size: int = 1024) -> bytes:
    return head + bytes(size - len(head))


def _mp3(path: Path) -> Path:
    """Three MPEG-1 Layer III frames, 128 kbit/s at 44.1 kHz (417 bytes each), silent."""
    frame = b"\xff\xfb\x90\x00" + bytes(417 - 4)
    path.write_bytes(frame * 3)
    return path


def _smime(path: Path, protocol: str = "application/pkcs7-signature") -> Path:
    boundary = "----sonic-test-boundary"
    body = (f'MIME-Version: 1.0\r\nContent-Type: multipart/signed; protocol="{protocol}"; '
            f'micalg=sha-256; boundary="{boundary}"\r\n\r\n'
            f"This is an S/MIME signed message\r\n\r\n--{boundary}\r\n"
            "Content-Type: text/plain\r\n\r\n" + "I agree to be animated for education.\r\n" * 8
            + f"\r\n--{boundary}\r\nContent-Type: {protocol}; name=smime.p7s\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n" + "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglg\r\n"
            * 4 + f"\r\n--{boundary}--\r\n")
    path.write_text(body, encoding="ascii")
    return path


# -- evidence: refused ----------------------------------------------------------------------------

def test_a_one_byte_file_enrols_nobody(registry, tmp_path):
    one_byte = tmp_path / "release.pdf"
    one_byte.write_bytes(b"x")
    with pytest.raises(InputError, match="file is 1 byte, too small to be a document") as info:
        enrol(registry, "Barack Obama", "obama.jpg", one_byte)
    assert info.value.field == "evidence"
    assert f"at least {MIN_EVIDENCE_BYTES}" in str(info.value) and "PDF" in info.value.hint
    assert registry.list_consents() == []


def test_600_random_bytes_are_no_document_whatever_the_name(registry, tmp_path):
    for name in ("release.pdf", "release.jpg", "release.wav"):
        junk = _random_bytes(tmp_path / name)
        with pytest.raises(InputError, match="not a document of an accepted type") as info:
            enrol(registry, "Barack Obama", "obama.jpg", junk)
        assert info.value.field == "evidence"
        assert "judged by its content, not its name" in info.value.problem
        assert "signed text" in info.value.hint
    assert registry.list_consents() == [] and not any(registry.evidence_dir.glob("*"))


@pytest.mark.parametrize("content", [
    pytest.param(("I agree to be animated. -- B.O.\n" * 40).encode(), id="unsigned-text"),
    pytest.param(_padded(b"%PDF-1.4\n"), id="pdf-header-without-eof"),
    pytest.param(_padded(b"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nI agree.\n"),
                 id="clearsigned-without-signature"),
    pytest.param(_padded(b"<html><body>signed</body></html>"), id="html"),
    pytest.param(_padded(b"PK\x03\x04"), id="zip"),
    pytest.param(_padded(b"MZ\x90\x00"), id="windows-executable"),
    pytest.param(_padded(b"\xff\xfb\x90\x00"), id="one-mp3-sync-word-then-zeros"),
    pytest.param(_padded(b"\xff\xd8\xff\xe0"), id="jpeg-magic-then-zeros"),
    pytest.param(_padded(b"\x89PNG\r\n\x1a\n"), id="png-magic-then-zeros"),
])
def test_placeholders_shaped_like_documents_are_refused(tmp_path, content):
    path = tmp_path / "release.pdf"
    path.write_bytes(content)
    with pytest.raises(InputError, match="not a document of an accepted type"):
        check_evidence_file(path)


def test_a_valid_document_below_the_floor_is_refused_for_its_size(tmp_path):
    tiny_png = tmp_path / "pixel.png"
    from PIL import Image

    Image.new("RGB", (1, 1)).save(tiny_png)
    assert tiny_png.stat().st_size < MIN_EVIDENCE_BYTES
    too_small = f"bytes, too small .*at least {MIN_EVIDENCE_BYTES} bytes"
    with pytest.raises(InputError, match=too_small):
        check_evidence_file(tiny_png)


# -- evidence: accepted ---------------------------------------------------------------------------

@pytest.mark.parametrize(("make", "media_type"), [
    (lambda p: write_release_pdf(p), PDF),
    (lambda p: (p.write_text(clearsigned_text()), p)[1], PGP_CLEARSIGNED),
    (lambda p: (p.write_bytes(b"\xef\xbb\xbf" + clearsigned_text().replace("\n", "\r\n")
                              .encode()), p)[1], PGP_CLEARSIGNED),
    (lambda p: (p.write_text("-----BEGIN PGP MESSAGE-----\n\n" + "owGbwMvMwCF2" * 60
                             + "\n=abcd\n-----END PGP MESSAGE-----\n"), p)[1], PGP_MESSAGE),
    (lambda p: _smime(p), 'multipart/signed; protocol="application/pkcs7-signature"'),
    (lambda p: _smime(p, "application/pgp-signature"),
     'multipart/signed; protocol="application/pgp-signature"'),
    (lambda p: write_tone_wav(p, seconds=0.1), "audio/wav"),
    (lambda p: _mp3(p), "audio/mpeg"),
    (lambda p: (p.write_bytes(_padded(b"ID3\x04\x00\x00\x00\x00\x00\x10")), p)[1], "audio/mpeg"),
    (lambda p: (p.write_bytes(_padded(b"fLaC\x00\x00\x00\x22")), p)[1], "audio/flac"),
    (lambda p: (p.write_bytes(_padded(b"OggS\x00\x02" + bytes(22) + b"\x01\x1e\x01vorbis")),
                p)[1], "audio/ogg"),
    (lambda p: (p.write_bytes(_padded(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00")), p)[1],
     "audio/mp4"),
    (lambda p: (p.write_bytes(_padded(b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00")), p)[1],
     "video/mp4"),
    (lambda p: (p.write_bytes(_padded(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00")), p)[1],
     "video/quicktime"),
    (lambda p: (p.write_bytes(_padded(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\x82\x84webm")),
                p)[1], "video/webm"),
    (lambda p: (p.write_bytes(_padded(b"\x00\x00\x00\x1cftypheic\x00\x00\x00\x00")), p)[1],
     "image/heic"),
    (lambda p: (p.write_bytes((FACES / "obama.jpg").read_bytes()), p)[1], "image/jpeg"),
])
def test_documents_are_recognised_by_content_not_name(tmp_path, make, media_type):
    path = make(tmp_path / "evidence.bin")
    assert path.stat().st_size >= MIN_EVIDENCE_BYTES
    assert check_evidence_file(path) == media_type


def test_images_of_every_accepted_format_are_evidence(tmp_path):
    from PIL import Image

    photo = Image.open(FACES / "obama.jpg").convert("RGB").resize((200, 200))
    for fmt, media_type in (("PNG", "image/png"), ("WEBP", "image/webp"), ("TIFF", "image/tiff"),
                            ("GIF", "image/gif")):
        path = tmp_path / f"scan.{fmt.lower()}"
        photo.save(path, fmt)
        assert check_evidence_file(path) == media_type, fmt


@pytest.mark.parametrize(("make", "media_type"), [
    (lambda p: write_release_pdf(p.with_suffix(".pdf")), PDF),
    (lambda p: (p.with_suffix(".asc").write_text(clearsigned_text()), p.with_suffix(".asc"))[1],
     PGP_CLEARSIGNED),
    (lambda p: write_tone_wav(p.with_suffix(".wav"), seconds=0.2), "audio/wav"),
    (lambda p: FACES / "obama.jpg", "image/jpeg"),
], ids=["pdf", "pgp-clearsigned", "wav", "jpeg-portrait"])
def test_enrolment_accepts_each_kind_and_stores_its_media_type(registry, tmp_path, make,
                                                               media_type):
    evidence = make(tmp_path / "release")
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    assert consent.evidence_path.read_bytes() == evidence.read_bytes()
    assert consent.evidence_media_type == media_type
    stored = store_evidence(evidence, tmp_path / "store")
    assert (stored.media_type, stored.created) == (media_type, True)
    assert store_evidence(evidence, tmp_path / "store").media_type == media_type


def test_a_file_swapped_after_the_first_check_is_refused_when_stored(registry, tmp_path,
                                                                     monkeypatch):
    """add_consent checks the evidence first and stores it after the slow face work: the bytes
    stored are judged again, so swapping the file in between does not slip junk in."""
    source = write_release_pdf(tmp_path / "release.pdf")
    find_faces = registry._enrolments

    def swap_then_find(portraits):
        _random_bytes(source)
        return find_faces(portraits)

    monkeypatch.setattr(registry, "_enrolments", swap_then_find)
    with pytest.raises(InputError, match="not a document"):
        enrol(registry, "Barack Obama", "obama.jpg", source)
    assert registry.list_consents() == [] and not any(registry.evidence_dir.glob("*"))


def test_the_example_and_demo_releases_are_the_generated_pdfs():
    assert EXAMPLE_RELEASE.read_bytes() == release_pdf(EXAMPLE_TEXT)
    assert check_evidence_file(EXAMPLE_RELEASE) == PDF
    assert DEMO_RELEASE.read_bytes() == release_pdf(DEMO_TEXT)
    assert check_evidence_file(DEMO_RELEASE) == PDF


# -- names, reasons, actors -----------------------------------------------------------------------

@pytest.mark.parametrize(("name", "code_point"), [
    (ANSI_NAME, "U+001B (ESCAPE)"),
    (FAKE_REVOKED_LINE, "U+000A (LINE FEED)"),
    ("Barack\tObama", "U+0009 (TAB)"),
    ("Barack \u202eamabO", "U+202E (RIGHT-TO-LEFT OVERRIDE)"),
    ("Barack\u200bObama", "U+200B (ZERO WIDTH SPACE)"),
    ("Barack Obama\u2028REVOKED", "U+2028 (LINE SEPARATOR)"),
    ("Barack \ue000Obama", "U+E000 (private use)"),
])
def test_names_with_control_or_format_characters_are_refused(registry, evidence, name,
                                                             code_point):
    with pytest.raises(InputError) as info:
        enrol(registry, name, "obama.jpg", evidence)
    assert info.value.field == "name"
    assert code_point in info.value.problem and "not allowed" in info.value.problem
    assert registry.list_consents() == []


def test_names_are_nfc_stripped_and_single_spaced(registry, evidence):
    consent = enrol(registry, "  Barack \u00a0  Obama\n", "obama.jpg", evidence)
    assert consent.subject_name == "Barack Obama"
    assert check_text("Jose\u0301 Mari\u0301a", "name") == "Jos\u00e9 Mar\u00eda"  # NFC
    assert check_text("\u5c0f\u6cc9 \u7d14\u4e00\u90ce", "name") == "\u5c0f\u6cc9 \u7d14\u4e00\u90ce"
    with pytest.raises(InputError, match="201 characters long; the limit is 200"):
        check_text("a" * 201, "name")


def test_revoke_reasons_and_actors_are_printable_too(registry, evidence):
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    with pytest.raises(InputError, match="U\\+000A") as info:
        registry.revoke_consent(consent.id, "withdrawn\nREVOKED by admin", "operator")
    assert info.value.field == "reason"
    with pytest.raises(InputError, match="U\\+001B") as info:
        registry.revoke_consent(consent.id, "withdrawn", "op\x1b[2J")
    assert info.value.field == "actor"
    with pytest.raises(InputError, match="U\\+001B") as info:
        enrol(registry, "Barack Obama", "obama.jpg", evidence, recorded_by="op\x1b]0;x\x07")
    assert info.value.field == "recorded_by"
    revoked = registry.revoke_consent(consent.id, "  withdrawn   by e-mail " + "x" * 1900,
                                      "operator")
    assert revoked.revoke_reason.startswith("withdrawn by e-mail x")


# -- purposes -------------------------------------------------------------------------------------

def test_a_cyrillic_look_alike_purpose_is_refused(registry, evidence):
    with pytest.raises(InputError) as info:
        enrol(registry, "Barack Obama", "obama.jpg", evidence, purposes=(CYRILLIC_TEST,))
    assert info.value.field == "purposes"
    assert "U+0435 (CYRILLIC SMALL LETTER IE) is not allowed" in info.value.problem
    assert "a-z, digits 0-9, '.', '_' and '-'" in info.value.hint
    assert registry.list_consents() == []


def test_generation_requests_apply_the_same_purpose_rule():
    def outcome(check, label):
        try:
            return check(label)
        except InputError as exc:
            return exc.problem, exc.hint

    for label in (CYRILLIC_TEST, "Education", " news ", "\uff45\uff44\uff55", "two words", "-x",
                  "e" * 65, "edu.k12_x-1", ""):
        assert outcome(lambda text: check_allowed_purpose(text, ()), label) == \
            outcome(check_purpose, label), label
    assert check_purpose("EDUCATION") == check_purpose("\uff25ducation") == "education"
    with pytest.raises(InputError, match="'news' is not a purpose this installation allows"):
        check_allowed_purpose(" News ", ("education",))


def test_the_policy_schema_uses_the_same_purpose_pattern():
    schema = json.loads(SCHEMA.read_text())
    pattern = schema["properties"]["purposes"]["properties"]["allowed"]["items"]["pattern"]
    assert pattern == f"^{PURPOSE_PATTERN}$"


# -- listings -------------------------------------------------------------------------------------

def test_printable_escapes_what_check_text_refuses():
    assert printable(ANSI_NAME) == "Barack \\u001b[31mObama\\u001b[0m"
    assert printable("a\nb\u202ec\U000f0000") == "a\\u000ab\\u202ec\\U000f0000"
    assert printable("Jos\u00e9 \u041e\u0431\u0430\u043c\u0430 \u5c0f\u6cc9") == \
        "Jos\u00e9 \u041e\u0431\u0430\u043c\u0430 \u5c0f\u6cc9"
    assert printable(None) == ""


def _store_raw_name(settings: Settings, consent_id: str, name: str) -> None:
    """What a row written before these checks (or edited in the database) can hold."""
    with raw(settings) as db:
        db.execute("UPDATE subjects SET name = ? WHERE id = (SELECT subject_id FROM consents "
                   "WHERE id = ?)", (name, consent_id))


def test_cli_listings_escape_rows_stored_before_the_checks(registry, evidence, settings,
                                                           capsys, monkeypatch):
    if settings.db_url:  # the CLI finds the registry as a deployment's shell would
        monkeypatch.setenv("SONIC_DB_URL", settings.db_url)
    consent = enrol(registry, "Barack Obama", "obama.jpg", evidence)
    _store_raw_name(settings, consent.id, ANSI_NAME + FAKE_REVOKED_LINE[12:])
    for command in (["consent", "list"], ["consent", "show", consent.id]):
        assert cli.main(["--home", str(settings.home), *command]) == 0
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\\u001b[31m" in out and "\\u000acon_0123456789ab" in out
        consent_lines = [line for line in out.splitlines() if line.startswith("con_")]
        assert len(consent_lines) == 1 and "REVOKED" in consent_lines[0]  # inside the name
    name = consent_rows(registry.list_consents())[0][HEADERS.index("name")]
    assert "\x1b" not in name and "\n" not in name and "\\u001b[31m" in name


def test_cli_errors_are_one_escaped_line(capsys):
    code = cli._fail(InputError("name", f"subject sub_1 is {ANSI_NAME}\nREVOKED"), False)
    err = capsys.readouterr().err
    assert code == 2 and "\x1b" not in err and err.count("\n") == 1
    assert "\\u001b[31m" in err and "\\u000aREVOKED" in err

