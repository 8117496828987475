"""Finding F11 over HTTP: POST /consents refuses placeholder evidence, names with control
characters and look-alike purposes with 422, storing nothing (the checks are the registry's,
tests/consent/test_consent_data.py)."""

from __future__ import annotations

import random

import httpx
import pytest

from sonic_ext import SonicService
from tests.api.conftest import ADMIN, FACES, OPS
from tests.evidence import clearsigned_text, release_pdf

SLOW = 120  # seconds: face detection runs inside the request


def _post(api: str, evidence: bytes, **fields: str) -> httpx.Response:
    data = {"name": "Barack Obama", "purposes": "education", "grantees": "any", **fields}
    files = [("portraits", ("obama.jpg", (FACES / "obama.jpg").read_bytes(), "image/jpeg")),
             ("evidence", ("release.pdf", evidence, "application/pdf"))]
    return httpx.post(f"{api}/consents", auth=OPS, headers=ADMIN, data=data, files=files,
                      timeout=SLOW)


@pytest.mark.parametrize(("evidence", "fields", "field", "words"), [
    (release_pdf(), {"name": "Barack \x1b[31mObama\x1b[0m"}, "name", "U+001B (ESCAPE)"),
    (release_pdf(), {"name": "Barack Obama\ncon_0123456789ab  Barack Obama  REVOKED"}, "name",
     "U+000A (LINE FEED)"),
    (release_pdf(), {"purposes": "t\u0435st"}, "purposes",
     "U+0435 (CYRILLIC SMALL LETTER IE) is not allowed"),
    (b"x", {}, "evidence", "file is 1 byte, too small to be a document"),
    (random.Random(11).randbytes(600), {}, "evidence", "not a document of an accepted type"),
], ids=["ansi-name", "fake-revoked-line", "cyrillic-purpose", "one-byte", "random-bytes"])
def test_consent_data_attacks_are_422_and_store_nothing(admin_api: str,
                                                        admin_service: SonicService,
                                                        evidence: bytes, fields: dict[str, str],
                                                        field: str, words: str) -> None:
    response = _post(admin_api, evidence, **fields)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["field"] == field and words in detail["message"], detail
    assert "/tmp" not in detail["message"]  # the upload's server path is not shown
    assert admin_service.list_consents() == []
    assert list(admin_service.settings.evidence_dir.iterdir()) == []


def test_signed_text_enrols_and_purposes_are_folded(admin_api: str,
                                                    admin_service: SonicService) -> None:
    response = _post(admin_api, clearsigned_text().encode(), name="  Barack   Obama ",
                     purposes="Education,\uff4e\uff45\uff57\uff53")
    assert response.status_code == 201, response.text
    consent = response.json()
    assert (consent["subject_name"], consent["purposes"]) == ("Barack Obama",
                                                              ["education", "news"])
    stored = admin_service.list_consents()[0].evidence_path
    assert stored.read_bytes() == clearsigned_text().encode()

