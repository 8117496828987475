"""The auditor's HTML report: one self-contained file (images inline, no scripts, no fetches).

Verdict in words first, then frames, the per-frame watermark confidence, the C2PA findings with
the manifest's assertions, the ingredients, and the generation and consent on record.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ._version import __version__
from .contracts import VerifyReport

VERDICT_WORDS = {
    "authentic": ("Authentic", "The file is intact and signed by a trusted signer.", "#1b7f3b"),
    "valid-untrusted": ("Valid, signer not trusted", "The file is intact, but its signer is "
                        "not among this installation's trust anchors.", "#9a6b00"),
    "tampered": ("Tampered", "The file does not match its signed manifest.", "#b00020"),
    "stripped-recovered": ("Manifest stripped, origin recovered", "The manifest was removed "
                           "(e.g. by a re-encode), but the watermark leads to a recorded "
                           "generation, and the pictures match its fingerprint.", "#1f5fa8"),
    "content-mismatch": ("Watermark and pictures disagree", "The frames carry our watermark, "
                         "but they are not the video it was made for: the mark was copied onto "
                         "other content, or the content was replaced. The generation and "
                         "consent it names do not cover this file.", "#b00020"),
    "stripped-unconfirmed": ("Manifest stripped, content unconfirmed", "The manifest was "
                             "removed and the watermark leads to a recorded generation, but "
                             "that generation has no fingerprint (recorded before outputs were "
                             "fingerprinted), so these pictures cannot be confirmed to be its "
                             "video.", "#9a6b00"),
    "watermark-unknown": ("Watermark of unknown origin", "The frames carry our watermark, but "
                          "this registry has no record of it.", "#9a6b00"),
    "no-provenance": ("No provenance", "Neither a C2PA manifest nor our watermark was found.",
                      "#555555"),
}
_STYLE = """body{font:15px/1.45 system-ui,sans-serif;max-width:980px;margin:24px auto;color:#222}
h1{margin:0 0 4px}
.test-weights{background:#fff3cd;border:2px solid #b58100;padding:8px 12px;font-weight:700}
.verdict{border-left:8px solid var(--c);padding:10px 16px;background:#f6f6f6}
.frames{display:flex;gap:8px;flex-wrap:wrap}.frames figure{margin:0;font-size:12px;color:#555}
.frames img{max-width:230px;border:1px solid #ccc}table{border-collapse:collapse}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:320px}"""


PREVIEW_SIDE = 320
TEST_WEIGHTS_WARNING = ("Made with seeded TEST WEIGHTS (models make-tiny), not the Sonic model: "
                        "this video shows no real speech animation and must not be presented "
                        "as a real output.")


def render_html(report: VerifyReport, frames: Sequence[tuple[int, np.ndarray]] = ()) -> str:
    title, meaning, colour = VERDICT_WORDS[report.verdict]
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Sonic verification: {_e(report.path.name)}</title><style>{_STYLE}</style>"
        f"</head><body><h1>Verification report</h1>"
        f"<p>{_e(report.path.name)} · sd-webui-sonic {__version__}</p>",
        f"<p class='test-weights' id='test-weights'>{_e(TEST_WEIGHTS_WARNING)}</p>"
        if report.made_with_test_weights else "",
        f"<div class='verdict' style='--c:{colour}' id='verdict'><h2>{_e(title)}</h2>"
        f"<p>{_e(meaning)}</p><ul>"
        + "".join(f"<li>{_e(r['text'])}</li>" for r in report.reasons) + "</ul></div>",
    ]
    if frames:
        parts.append("<h2>Frames</h2><div class='frames'>" + "".join(
            f"<figure><img alt='frame {i}' src='data:image/jpeg;base64,{_jpeg(f)}'>"
            f"<figcaption>frame {i}</figcaption></figure>" for i, f in frames) + "</div>")
    parts.append(_watermark_section(report.watermark))
    parts.append(_content_section(report.content))
    parts.append(_c2pa_section(report.c2pa))
    if report.consent_check:
        check = report.consent_check
        parts.append(f"<h2>Consent (from the file)</h2><p id='consent-verdict'><b>"
                     f"{_e(check['verdict'])}</b>: {_e(check['reason'])}</p>"
                     + _table({k: v for k, v in check.items() if k not in ("verdict", "reason")}))
    for heading, record in (
            ("Generation on record", report.generation),
            ("Consent on record", report.consent),
            ("Generation the watermark names: NOT this file's pictures",
             report.content.get("named_generation")),
            ("Consent of that generation: does NOT cover this file",
             report.content.get("named_consent"))):
        if record:
            parts.append(f"<h2>{heading}</h2>{_table(record)}")
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(report: VerifyReport, out: Path, frames: Sequence[tuple[int, np.ndarray]] = ()
                 ) -> Path:
    """Write atomically: a report is complete or absent."""
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_text(render_html(report, frames), encoding="utf-8")
    temp.replace(out)
    return out


def _watermark_section(mark: dict[str, Any]) -> str:
    if not mark.get("frame_scores"):
        return "<h2>Watermark</h2><p>Not checked (not a video, or no frame could be read).</p>"
    found = (f"present, ID <b>{_e(mark['watermark_id'])}</b>, confidence "
             f"{mark['confidence']:.2f}" if mark.get("present") else "not present")
    return (f"<h2>Watermark</h2><p>{found}; {mark['frames_checked']} frames checked.</p>"
            + _score_plot(mark["frame_indices"], mark["frame_scores"]))


def _content_section(content: dict[str, Any]) -> str:
    """The stripped copy's pictures against the fingerprint its generation recorded."""
    if not content.get("checked"):
        return ""
    rows = {key: content.get(key) for key in ("matched", "score", "whole", "face", "face_low",
                                              "face_source", "related_views", "thresholds",
                                              "fingerprint_sha256")}
    return ("<h2>Pictures against the recorded fingerprint</h2>"
            f"<p id='content-check'>{'match' if content.get('matched') else 'MISMATCH'}: "
            f"{len(content.get('views') or [])} frames compared.</p>" + _table(rows))


def _score_plot(indices: Sequence[int], scores: Sequence[float]) -> str:
    """Per-frame share of watermark bits that agree with the decoded ID, as an inline SVG."""
    width, height, pad = 900, 200, 30
    last = max(max(indices), 1)
    points = " ".join(f"{pad + i / last * (width - 2 * pad):.1f},"
                      f"{height - pad - (s - 0.5) / 0.5 * (height - 2 * pad):.1f}"
                      for i, s in zip(indices, scores))
    grid = "".join(f"<line x1='{pad}' x2='{width - pad}' y1='{y}' y2='{y}' stroke='#ddd'/>"
                   f"<text x='2' y='{y + 4}' font-size='11'>{label}</text>"
                   for y, label in ((pad, "1.0"), (height / 2, "0.75"), (height - pad, "0.5")))
    return (f"<svg id='watermark-plot' width='{width}' height='{height}' role='img' "
            f"aria-label='watermark agreement per frame'>{grid}"
            f"<polyline fill='none' stroke='#1f5fa8' stroke-width='2' points='{points}'/>"
            + "".join(f"<circle cx='{p.split(',')[0]}' cy='{p.split(',')[1]}' r='3' "
                      f"fill='#1f5fa8'/>" for p in points.split())
            + f"<text x='{width / 2 - 60}' y='{height - 6}' font-size='11'>frame index</text>"
              "</svg>")


def _c2pa_section(c2pa: dict[str, Any]) -> str:
    if not c2pa.get("present"):
        return "<h2>C2PA manifest</h2><p>None in this file.</p>"
    rows = {"validation state": c2pa.get("validation_state"),
            "signer": c2pa.get("signature"),
            "development credentials": c2pa.get("development_credentials"),
            "failures": [f["code"] for f in c2pa.get("failures", [])] or "none",
            "claim generator": c2pa.get("claim_generator")}
    ingredients = c2pa.get("ingredients") or []
    return ("<h2>C2PA manifest</h2>" + _table(rows)
            + ("<h3>Ingredients</h3>" + "".join(_table(i) for i in ingredients)
               if ingredients else "")
            + "<h3>Assertions</h3>" + "".join(
                f"<details><summary>{_e(label)}</summary><pre>{_e(json.dumps(data, indent=1))}"
                f"</pre></details>" for label, data in (c2pa.get("assertions") or {}).items()))


def _table(record: dict[str, Any]) -> str:
    return "<table>" + "".join(
        f"<tr><th>{_e(str(k))}</th><td>{_e(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
        for k, v in record.items()) + "</table>"


def preview(frame: np.ndarray) -> np.ndarray:
    """A frame as the report shows it (at most 320 px a side): readers shrink frames to this
    as they decode them, so a huge video costs the report no more memory than a small one."""
    image = Image.fromarray(frame)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    return np.asarray(image)


def _jpeg(frame: np.ndarray) -> str:
    image = Image.fromarray(preview(frame))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return base64.b64encode(buffer.getvalue()).decode()


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
