"""Batches: many clips from one jobs file, each passing the consent gate and signed on its own.

A jobs file is CSV (a header row) or JSON Lines (an object per line) with the fields portrait,
audio, purpose, consent (ids separated by commas), out, preset and any generation
parameter; what an item leaves out comes from the batch's defaults (the `generate` flags).
Paths are relative to the jobs file; `out` is relative to the output folder and defaults to
`<portrait>-<audio>.mp4`. A file whose columns are not these is refused before any work.

Items run one after another on the one service, so the models load once. A refused or failed
item is reported and the rest go on; what would fail every item alike (no models, no signing
credentials) stops the batch. An item whose output exists and verifies authentic is
skipped, so a batch killed half-way resumes where it stopped; an existing file that is not an
authentic output is left alone and reported, never overwritten.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .consent.fields import split_labels
from .contracts import DEFAULT_PURPOSE, GenerateRequest, GenerationParams
from .errors import ConsentRefused, InputError, NotAvailable, SonicError
from .hashing import file_sha256
from .parameters import param_specs
from .presets import resolve
from .progress import ProgressEvent

FILE_FIELDS = ("portrait", "audio", "purpose", "consent", "out", "preset")
PARAMS = {spec.name: spec for spec in param_specs(GenerationParams)}
SUMMARY_FIELDS = ("line", "portrait", "audio", "out", "state", "sha256", "watermark_id",
                  "consent_id", "seconds", "error")
ENDED = ("done", "skipped", "refused", "failed")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off"}


@dataclass(frozen=True)
class BatchDefaults:
    """What an item leaves out: the batch's flags."""

    purpose: str = DEFAULT_PURPOSE
    consent_ids: tuple[str, ...] = ()
    preset: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchItem:
    line: int  # where it is in the jobs file (the header is line 1 of a CSV)
    fields: Mapping[str, str]  # as the file gives them, for the summary and errors


@dataclass
class ItemOutcome:
    """One item's line of the summary: done, skipped (authentic already), refused or failed."""

    line: int
    portrait: str
    audio: str
    out: str
    state: str = "pending"
    sha256: str = ""
    watermark_id: str = ""
    consent_id: str = ""
    seconds: float = 0.0
    error: str = ""


def read_jobs(path: Path) -> list[BatchItem]:
    """The items of a CSV or JSON Lines jobs file; InputError naming the line or the column."""
    if not path.is_file():
        raise InputError("jobs", f"file not found: {path}")
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() in (".jsonl", ".ndjson"):
        items = list(_json_lines(text))
    elif path.suffix.lower() == ".csv":
        rows = csv.DictReader(text.splitlines())
        _check_columns(rows.fieldnames or [], "the header")
        items = [BatchItem(number, {k: (v or "").strip() for k, v in row.items() if k})
                 for number, row in enumerate(rows, start=2)]
    else:
        raise InputError("jobs", f"{path.name}: a jobs file is .csv or .jsonl")
    if not items:
        raise InputError("jobs", f"{path.name} lists no items")
    return items


def _json_lines(text: str) -> Iterator[BatchItem]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            raise InputError("jobs", f"line {number}: not JSON: {exc}") from None
        if not isinstance(row, dict):
            raise InputError("jobs", f"line {number}: an object was expected")
        _check_columns(list(row), f"line {number}")
        yield BatchItem(number, {k: _as_text(v) for k, v in row.items()})


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return "" if value is None else str(value)


def _check_columns(names: list[str], where: str) -> None:
    unknown = [name for name in names if name not in FILE_FIELDS and name not in PARAMS]
    if unknown:
        raise InputError("jobs", f"{where}: unknown field {unknown[0]!r}; the fields are "
                                 f"{', '.join(FILE_FIELDS)} and the generation parameters")
    if "portrait" not in names or "audio" not in names:
        raise InputError("jobs", f"{where}: every item needs a portrait and an audio")


def item_request(item: BatchItem, defaults: BatchDefaults, base: Path, out_dir: Path,
                 requested_by: str, presets: Mapping[str, Mapping[str, Any]]
                 ) -> GenerateRequest:
    """The generate request of one item (InputError naming its field for a bad value);
    `presets` are the deployment's (the policy's)."""
    given = {**defaults.params, **{name: _param_value(name, text)
                                   for name, text in item.fields.items()
                                   if name in PARAMS and text != ""}}
    params = resolve(item.fields.get("preset") or defaults.preset, given, presets)
    portrait, audio = (base / item.fields["portrait"], base / item.fields["audio"])
    out = item.fields.get("out") or f"{portrait.stem}-{audio.stem}.mp4"
    consents = split_labels(item.fields.get("consent")) or list(defaults.consent_ids)
    return GenerateRequest(portrait, audio, out_dir / out, item.fields.get("purpose") or
                           defaults.purpose, params, requested_by=requested_by,
                           consent_ids=tuple(consents))


def _param_value(name: str, text: str) -> Any:
    kind = PARAMS[name].kind
    lowered = text.lower()
    if kind is bool:
        if lowered in _TRUE | _FALSE:
            return lowered in _TRUE
        raise InputError(name, f"must be true or false, got {text!r}")
    try:
        return kind(text) if kind is not str else text
    except ValueError:
        raise InputError(name, f"must be a number, got {text!r}") from None


Progress = Callable[[int, ItemOutcome, ProgressEvent | None], None]


def run_batch(service: Any, items: list[BatchItem], defaults: BatchDefaults, base: Path,
              out_dir: Path, requested_by: str, progress: Progress | None = None
              ) -> list[ItemOutcome]:
    """Run every item in order on `service` (a SonicService); each outcome as it ends."""
    out_dir.mkdir(parents=True, exist_ok=True)
    presets = service.policy.presets
    outcomes = []
    for index, item in enumerate(items):
        outcome = ItemOutcome(item.line, item.fields.get("portrait", ""),
                              item.fields.get("audio", ""), item.fields.get("out", ""))
        started = time.monotonic()
        try:
            request = item_request(item, defaults, base, out_dir, requested_by, presets)
            outcome.out = str(request.out)
            if not _resumed(service, request, outcome):
                outcome.state = "running"
                _report(progress, index, outcome, None)
                result = service.generate(
                    request, progress=lambda event: _report(progress, index, outcome, event))
                outcome.state, outcome.sha256 = "done", result.sha256
                outcome.watermark_id, outcome.consent_id = result.watermark_id, result.consent_id
        except ConsentRefused as exc:
            outcome.state, outcome.error = "refused", str(exc)
        except NotAvailable:  # no models, no signing: every item would fail alike
            raise
        except SonicError as exc:
            outcome.state, outcome.error = "failed", str(exc)
        outcome.seconds = round(time.monotonic() - started, 3)
        outcomes.append(outcome)
        _report(progress, index, outcome, None)
    return outcomes


def _resumed(service: Any, request: GenerateRequest, outcome: ItemOutcome) -> bool:
    """True when the item's output exists and verifies authentic (done by an earlier run)."""
    if not request.out.exists():
        return False
    try:
        report = service.verify(request.out)
    except InputError as exc:  # not a video at all
        problem = exc.problem
    else:
        problem = "" if report.verdict == "authentic" else report.verdict
    if problem:
        raise InputError("out", f"{request.out.name} exists and is not an authentic output "
                                f"({problem}); it is left as it is",
                         hint="remove it or name another out")
    outcome.state, outcome.sha256 = "skipped", file_sha256(request.out)
    outcome.watermark_id = str(report.watermark.get("watermark_id") or "")
    return True


def _report(progress: Progress | None, index: int, outcome: ItemOutcome,
            event: ProgressEvent | None) -> None:
    if progress is not None:
        progress(index, outcome, event)


def write_summary(outcomes: list[ItemOutcome], out_dir: Path) -> tuple[Path, Path]:
    """`batch-summary.csv` and `batch-summary.json` in the output folder."""
    rows = [asdict(outcome) for outcome in outcomes]
    csv_path, json_path = out_dir / "batch-summary.csv", out_dir / "batch-summary.json"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)
    json_path.write_text(json.dumps({"counts": state_counts(outcomes), "items": rows},
                                    indent=2) + "\n", encoding="utf-8")
    return csv_path, json_path


def state_counts(outcomes: list[ItemOutcome]) -> dict[str, int]:
    return {state: sum(o.state == state for o in outcomes) for state in ENDED}
