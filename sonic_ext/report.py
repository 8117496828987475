"""The auditor's HTML report: one self-contained file (images inline, no scripts, no fetches),
written for people: the verdict in one sentence with a coloured badge, then who made the file,
from which inputs, under which consent, what changed since, the watermark with its per-frame
plot, and thumbnails; dates and numbers as people write them, no server paths, the raw data in a
closed "technical details" fold. It prints (a print stylesheet) and follows a dark system theme
and a phone's width.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ._version import __version__
from .contracts import GenerationParams, VerifyReport
from .parameters import param_specs
from .text import without_server_paths

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
_STYLE = """:root{--fg:#1d1d1f;--muted:#5b5b60;--bg:#fff;--panel:#f4f4f6;--line:#d9d9de}
@media (prefers-color-scheme:dark){:root{--fg:#ececf0;--muted:#a9a9b2;--bg:#16161a;
--panel:#222228;--line:#3a3a42}}
body{font:15px/1.5 system-ui,sans-serif;max-width:920px;margin:24px auto;padding:0 16px;
color:var(--fg);background:var(--bg)}
h1{margin:0}h2{margin:28px 0 8px;font-size:1.15em}.sub{color:var(--muted);margin:2px 0 16px}
.test-weights{background:#fff3cd;color:#4a3600;border:2px solid #b58100;padding:8px 12px;
font-weight:700}
.verdict{border-left:8px solid var(--c);padding:12px 16px;background:var(--panel)}
.badge{display:inline-block;background:var(--c);color:#fff;font-weight:700;padding:3px 12px;
border-radius:999px}.sentence{font-size:1.1em;margin:8px 0 4px}
dl{display:grid;grid-template-columns:minmax(120px,max-content) 1fr;gap:4px 16px;margin:0}
dt{color:var(--muted)}dd{margin:0;overflow-wrap:anywhere}
.changes li{margin:2px 0}.warn{color:#b00020;font-weight:600}
@media (prefers-color-scheme:dark){.warn{color:#ff8a8a}}
.frames{display:flex;gap:8px;flex-wrap:wrap}.frames figure{margin:0;font-size:12px;
color:var(--muted)}.frames img{max-width:200px;width:100%;border:1px solid var(--line)}
svg{width:100%;height:auto;max-width:900px}svg text{fill:var(--muted)}
details{margin-top:28px}pre{background:var(--panel);padding:8px;overflow:auto;
max-height:420px;font-size:12px}
@media (max-width:560px){dl{grid-template-columns:1fr}dd{margin-bottom:6px}}
@media print{body{max-width:none;margin:0;font-size:11pt}details,.no-print{display:none}
.verdict,section{break-inside:avoid}.badge{border:1px solid #000;color:#000;background:none}}"""


PREVIEW_SIDE = 320
TEST_WEIGHTS_WARNING = ("Made with seeded TEST WEIGHTS (models make-tiny), not the Sonic model: "
                        "this video shows no real speech animation and must not be presented "
                        "as a real output.")


def render_html(report: VerifyReport, frames: Sequence[tuple[int, np.ndarray]] = (),
                checked_at: datetime | None = None) -> str:
    """The report for people: the verdict in one sentence, then who made the file, from which
    inputs, under which consent, what changed since, the watermark and frames; the raw data
    only in a closed "technical details" fold, with server paths cut to file names."""
    title, meaning, colour = VERDICT_WORDS[report.verdict]
    checked = checked_at or datetime.now(timezone.utc)
    parts = [
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Sonic verification: {_e(report.path.name)}</title><style>{_STYLE}</style>"
        f"</head><body><h1>Verification report</h1>"
        f"<p class='sub'>{_e(report.path.name)} · checked {_e(_when(checked))} · "
        f"sd-webui-sonic {__version__}</p>",
        f"<p class='test-weights' id='test-weights'>{_e(TEST_WEIGHTS_WARNING)}</p>"
        if report.made_with_test_weights else "",
        f"<section class='verdict' style='--c:{colour}' id='verdict'>"
        f"<span class='badge'>{_e(title)}</span><p class='sentence'>{_e(meaning)}</p><ul>"
        + "".join(f"<li>{_e(r['text'])}</li>" for r in report.reasons) + "</ul></section>",
        _who_section(report), _inputs_section(report), _consent_section(report),
        _changes_section(report), _watermark_section(report.watermark),
        _content_section(report.content), _named_section(report.content),
    ]
    if frames:
        parts.append("<section id='frames'><h2>Frames</h2><div class='frames'>" + "".join(
            f"<figure><img alt='frame {i}' src='data:image/jpeg;base64,{_jpeg(f)}'>"
            f"<figcaption>frame {i}</figcaption></figure>" for i, f in frames)
            + "</div></section>")
    parts.append(_technical(report))
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def write_report(report: VerifyReport, out: Path, frames: Sequence[tuple[int, np.ndarray]] = ()
                 ) -> Path:
    """Write atomically: a report is complete or absent."""
    temp = out.with_name(f".{out.name}.tmp")
    temp.write_text(render_html(report, frames), encoding="utf-8")
    temp.replace(out)
    return out


def _who_section(report: VerifyReport) -> str:
    c2pa, generation = report.c2pa, report.generation or {}
    if not c2pa.get("present") and not generation:
        return ""
    signature = c2pa.get("signature") or {}
    made_with = ", ".join(f"{g.get('name')} {g.get('version', '')}".strip()
                          for g in c2pa.get("claim_generator") or [] if isinstance(g, dict))
    rows = [("Signed by", signature.get("common_name")), ("Certificate issued by",
                                                           signature.get("issuer")),
            ("Credentials", "development credentials: trusted on this installation only"
             if c2pa.get("development_credentials") else None),
            ("Signature", _validation_words(c2pa.get("validation_state"))
             if c2pa.get("present") else None),
            ("Made with", made_with or None),
            ("Made on", _when(generation.get("created_at"))),
            ("Recorded as", f"generation {generation['id']} ({generation.get('status')})"
             if generation.get("id") else None)]
    return f"<section id='who'><h2>Who made it</h2>{_dl(rows)}</section>"


def _inputs_section(report: VerifyReport) -> str:
    ingredients = report.c2pa.get("ingredients") or []
    parameters = (report.generation or {}).get("parameters") or {}
    if not ingredients and not parameters:
        return ""
    rows = [(_role(i.get("format")), f"{i.get('title')} ({i.get('format')}), sha256 "
             f"{_short(_sha(i))}") for i in ingredients]
    labels = {spec.name: spec.label for spec in param_specs(GenerationParams)}
    settings = [(labels.get(name, name), _value(value)) for name, value in parameters.items()
                if name != "purpose"]
    named = _dl(rows) if rows else ("<p>The manifest that names the inputs is not in this "
                                    "file; the settings below are from the record.</p>")
    return ("<section id='inputs'><h2>From which inputs</h2>" + named
            + (f"<h3>Settings</h3>{_dl(settings)}" if settings else "") + "</section>")


def _consent_section(report: VerifyReport) -> str:
    consent, check = report.consent, report.consent_check
    if not consent and not check:
        return ""
    parts = ["<section id='consent'><h2>Under which consent</h2>"]
    if consent:
        state = (f"revoked on {_when(consent['revoked_at'])}"
                 + (f": {consent['revoke_reason']}" if consent.get("revoke_reason") else "")
                 if consent.get("revoked_at") else "in force")
        until = _when(consent.get("valid_until")) or "no end date"
        parts.append(_dl([
            ("Person", consent.get("subject_name")), ("Consent", consent.get("id")),
            ("Purposes", ", ".join(consent.get("purposes") or [])),
            ("Valid", f"from {_when(consent.get('valid_from'))} until {until}"),
            ("Now", state), ("Recorded by", consent.get("recorded_by")),
            ("Evidence", f"{consent.get('evidence_media_type')}, sha256 "
                         f"{_short(consent.get('evidence_sha256'))}")]))
    if check:
        parts.append(f"<p id='consent-verdict'>Read from the file itself: <b>"
                     f"{_e(check['verdict'])}</b>. {_e(check['reason'])}</p>")
    return "".join(parts) + "</section>"


def _changes_section(report: VerifyReport) -> str:
    """What happened to the file or its records since it was made, in sentences."""
    c2pa, mark, consent = report.c2pa, report.watermark, report.consent or {}
    changes = []
    if c2pa.get("failures"):
        changes += [f"The manifest no longer matches: {f.get('explanation') or f.get('code')}"
                    for f in c2pa["failures"]]
    if not c2pa.get("present") and mark.get("present"):
        changes.append("The C2PA manifest was removed (a re-encode or an upload does that); "
                       "the watermark still names the generation.")
    transform = mark.get("transform") or {}  # told against the recorded size only
    if report.generation and mark.get("present") and transform.get("description") not in (
            None, "same geometry as the original"):
        changes.append(f"The pictures were changed: {transform['description']}.")
    if consent.get("revoked_at"):
        changes.append(f"The consent was revoked on {_when(consent['revoked_at'])}, after "
                       "this video was made: it may no longer be shown.")
    if report.content.get("checked") and not report.content.get("matched"):
        changes.append("The pictures are not those the watermark was made for.")
    items = "".join(f"<li>{_e(text)}</li>" for text in changes) or \
        "<li>Nothing found: the file is as it was signed.</li>"
    return f"<section id='changes'><h2>What changed since</h2><ul class='changes'>{items}</ul>" \
           "</section>"


def _watermark_section(mark: dict[str, Any]) -> str:
    if not mark.get("frame_scores"):
        return ("<section id='watermark'><h2>Watermark</h2><p>Not checked (not a video, or no "
                "frame could be read).</p></section>")
    found = (f"Found: ID <b>{_e(mark['watermark_id'])}</b>, "
             f"{_e(_percent(mark['confidence']))} of its bits read as written"
             if mark.get("present") else "Not found")
    return (f"<section id='watermark'><h2>Watermark</h2><p>{found}; "
            f"{mark['frames_checked']} frames checked.</p>"
            + _score_plot(mark["frame_indices"], mark["frame_scores"],
                          mark.get("frame_score_threshold")) + "</section>")


def _content_section(content: dict[str, Any]) -> str:
    """The stripped copy's pictures against the fingerprint its generation recorded."""
    if not content.get("checked"):
        return ""
    matched = content.get("matched")
    score = content.get("score")
    return ("<section><h2>Pictures against the recorded fingerprint</h2>"
            f"<p id='content-check'>{'match' if matched else 'MISMATCH'}: "
            f"{len(content.get('views') or [])} frames compared"
            + (f", similarity {score:.2f}" if isinstance(score, (int, float)) else "")
            + ".</p></section>")


def _named_section(content: dict[str, Any]) -> str:
    """What a copied mark points at, said so that nobody takes it for this file's records."""
    generation, consent = content.get("named_generation"), content.get("named_consent")
    if not generation and not consent:
        return ""
    rows = []
    if generation:
        rows.append(("Generation", f"{generation.get('id')}, made "
                                   f"{_when(generation.get('created_at'))}"))
    if consent:
        rows.append(("Consent", f"{consent.get('id')} ({consent.get('subject_name')})"))
    return ("<section id='named'><h2 class='warn'>Generation the watermark names: NOT this "
            "file's pictures</h2><p>Its consent does NOT cover this file.</p>" + _dl(rows)
            + "</section>")


def _technical(report: VerifyReport) -> str:
    data = {**report.to_dict(), "path": report.path.name}
    text = without_server_paths(json.dumps(data, indent=1, default=str))
    return (f"<details id='technical'><summary>Technical details (the data behind this "
            f"report)</summary><pre>{_e(text)}</pre></details>")


def _score_plot(indices: Sequence[int], scores: Sequence[float],
                threshold: float | None = None) -> str:
    """Each checked frame's own watermark sync score (standard deviations above chance), with
    the level from which a frame counts as marked, as an inline SVG that scales to the page."""
    width, height, pad = 900, 200, 34
    last = max(max(indices), 1)
    top = max(max(scores), (threshold or 0) * 1.5, 1.0)

    def y(value: float) -> float:
        return height - pad - max(value, 0) / top * (height - 2 * pad)

    points = " ".join(f"{pad + i / last * (width - 2 * pad):.1f},{y(s):.1f}"
                      for i, s in zip(indices, scores))
    level = (f"<line x1='{pad}' x2='{width - pad}' y1='{y(threshold):.1f}' "
             f"y2='{y(threshold):.1f}' stroke='#b58100' stroke-dasharray='6 4'/>"
             f"<text x='{width - pad - 150}' y='{y(threshold) - 5:.1f}' font-size='12'>"
             f"marked from {threshold:g}</text>" if threshold else "")
    return (f"<svg id='watermark-plot' viewBox='0 0 {width} {height}' role='img' "
            f"aria-label='watermark score per checked frame'>"
            f"<line x1='{pad}' x2='{width - pad}' y1='{y(0)}' y2='{y(0)}' stroke='#999'/>"
            f"<text x='2' y='{y(0) + 4:.1f}' font-size='12'>0</text>"
            f"<text x='2' y='{y(top) + 4:.1f}' font-size='12'>{top:.0f}</text>{level}"
            f"<polyline fill='none' stroke='#1f5fa8' stroke-width='2' points='{points}'/>"
            + "".join(f"<circle cx='{p.split(',')[0]}' cy='{p.split(',')[1]}' r='3' "
                      f"fill='#1f5fa8'/>" for p in points.split())
            + f"<text x='{width / 2 - 50}' y='{height - 8}' font-size='12'>frame number</text>"
              "</svg>")


def _dl(rows: Sequence[tuple[str, Any]]) -> str:
    return "<dl>" + "".join(f"<dt>{_e(name)}</dt><dd>{_e(value)}</dd>" for name, value in rows
                            if value not in (None, "", [])) + "</dl>"


def _when(value: Any) -> str:
    """An ISO time (or datetime) for people: 7 December 2026, 01:28 UTC."""
    if not value:
        return ""
    moment = value if isinstance(value, datetime) else \
        datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    moment = moment.astimezone(timezone.utc)
    return f"{moment.day} {moment:%B %Y, %H:%M} UTC"


def _percent(share: float) -> str:
    return f"{share * 100:.0f} %"


def _short(digest: Any) -> str:
    return f"{str(digest)[:16]}…" if digest else "unknown"


def _sha(ingredient: dict[str, Any]) -> Any:
    return (ingredient.get("metadata") or {}).get("org.sd-webui-sonic.sha256")


def _role(media_type: Any) -> str:
    kind = str(media_type or "").split("/")[0]
    return {"image": "Portrait", "audio": "Speech", "video": "Video"}.get(kind, "Input")


def _value(value: Any) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def _validation_words(state: Any) -> str:
    return {"Trusted": "valid, and the signer is trusted here",
            "Valid": "valid, but the signer is not trusted here",
            "Invalid": "INVALID: the file does not match what was signed"}.get(str(state),
                                                                                str(state))


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
