"""The HTML report reads as prose for people: the verdict first, sections in words, dates and
numbers as people write them, no raw JSON or server paths outside the closed technical fold;
printable, dark-mode and phone-width aware, checked in a real browser with screenshots."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from sonic_ext.contracts import VerifyReport
from sonic_ext.report import render_html

SERVER = "/srv/sonic-home"


def stripped_and_revoked() -> VerifyReport:
    """A re-encoded copy of a recorded generation whose consent was revoked since."""
    return VerifyReport(
        path=Path(f"{SERVER}/uploads/ab12/copy.mp4"), verdict="stripped-recovered",
        reasons=({"code": "c2pa.absent", "text": "the file carries no C2PA manifest"},
                 {"code": "watermark.found", "text": "our watermark names generation gen_1"}),
        c2pa={"present": False},
        watermark={"present": True, "watermark_id": "930836fad2cb", "confidence": 0.9929,
                   "frames_checked": 3, "frame_indices": [0, 10, 20],
                   "frame_scores": [9.5, 8.75, 10.25], "frame_score_threshold": 4.0,
                   "transform": {"description": "scaled by 0.78, mirrored"}},
        generation={"id": "gen_1", "consent_id": "con_1", "status": "published",
                    "created_at": "2026-12-07T01:28:25.872516Z",
                    "parameters": {"seed": 0, "steps": 25, "crop": True, "purpose": "news"},
                    "manifest": {"title": "made.mp4", "note": None}},
        consent={"id": "con_1", "subject_name": "Eileen Collins", "purposes": ["news"],
                 "valid_from": "2026-11-01T09:00:00Z", "valid_until": None,
                 "recorded_by": "ops", "evidence_media_type": "application/pdf",
                 "evidence_sha256": "2ba9cebedde860cd378c781cc0ed97711bae54021d6484476f",
                 "revoked_at": "2026-12-06T18:05:00Z", "revoke_reason": "withdrawn"},
        content={"checked": True, "matched": True, "score": 0.93, "views": [1, 2, 3]})


def outside_the_fold(page: str) -> str:
    return page.split("<details id='technical'>")[0]


def test_the_report_says_it_in_words() -> None:
    page = render_html(stripped_and_revoked())
    prose = outside_the_fold(page)
    assert prose.index("class='badge'>Manifest stripped, origin recovered") < \
        prose.index("Who made it")
    for heading in ("Who made it", "From which inputs", "Under which consent",
                    "What changed since", "Watermark"):
        assert f"<h2>{heading}</h2>" in prose
    assert "Made on</dt><dd>7 December 2026, 01:28 UTC" in prose
    assert "revoked on 6 December 2026, 18:05 UTC: withdrawn" in prose
    assert "The C2PA manifest was removed" in prose
    assert "The pictures were changed: scaled by 0.78, mirrored." in prose
    assert "The consent was revoked on 6 December 2026, 18:05 UTC, after this video" in prose
    assert "99 % of its bits read as written" in prose and "Steps</dt><dd>25" in prose
    assert "Crop to the face</dt><dd>yes" in prose
    assert "The manifest that names the inputs is not in this file" in prose
    # no raw data for people: no JSON, no null, no snake_case keys, no ISO times, no paths
    assert not re.search(r"null|\{\"|subject_name|valid_until|evidence_sha256|"
                         r"\d{4}-\d\d-\d\dT\d\d", prose)
    assert SERVER not in page and "copy.mp4" in prose
    # the data behind it, closed, for those who want it
    fold = page.split("<details id='technical'>")[1]
    assert "&quot;subject_name&quot;" in fold and "<details id='technical' open" not in page


def test_the_report_prints_and_follows_the_reader_s_screen() -> None:
    page = render_html(stripped_and_revoked())
    assert "@media print" in page and "prefers-color-scheme:dark" in page
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    assert "<svg id='watermark-plot' viewBox=" in page  # scales with the page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_report_in_a_browser_on_a_phone_and_a_desktop(tmp_path: Path, scheme: str) -> None:
    from tests.ui.browser import browser

    report = tmp_path / "report.html"
    report.write_text(render_html(stripped_and_revoked()), encoding="utf-8")
    shots = Path(os.environ.get("SONIC_UI_SCREENSHOTS") or tmp_path) / "report"
    shots.mkdir(parents=True, exist_ok=True)
    with browser() as chrome:
        for name, (width, height) in {"phone": (390, 844), "desktop": (1280, 900)}.items():
            page = chrome.new_page(viewport={"width": width, "height": height},
                                   color_scheme=scheme)
            page.goto(report.as_uri())
            # nothing wider than the screen: no sideways scrolling on a phone
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            background = page.evaluate("getComputedStyle(document.body).backgroundColor")
            assert (background == "rgb(22, 22, 26)") == (scheme == "dark"), background
            assert page.locator("#technical").get_attribute("open") is None
            page.screenshot(path=str(shots / f"{scheme}-{name}.png"), full_page=True)
            page.close()
        pdf = chrome.new_page()
        pdf.goto(report.as_uri())
        pdf.emulate_media(media="print")
        assert not pdf.locator("#technical").is_visible()  # the fold is left off on paper
        assert pdf.pdf(path=str(shots / "report.pdf"))[:4] == b"%PDF"
