"""Atomic publish: an MP4 appears at its final path only signed, verified and recorded.

Steps: unsigned temp file in the output folder -> signed temp file -> read back (manifest at the
expected validation state, watermark ID in a few frames) -> registry record -> `os.replace`.
Any failure removes both temp files, records a failed generation and raises SigningError, so
there is never an unsigned or half-written output, nor a stray temp file.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from ..errors import EncodingError, InputError, SigningError, SonicError, raised_as
from .identity_assertion import IdentitySigner
from .keys import SigningCredentials
from .manifest import GenerationFacts, file_sha256
from .sign import sign_mp4
from .watermark import WatermarkDetection, detect_video
from .watermark_key import WatermarkKey

log = logging.getLogger(__name__)

PUBLISH_CHECK_FRAMES = 8
TEMP_PREFIX = ".sonic-publish-"

UnsignedWriter = Callable[[Path], None]  # writes the watermarked, unsigned MP4 to the given path
FingerprintSource = Callable[[], bytes]  # the output's fingerprint, once its frames are written


@dataclass(frozen=True)
class GenerationRecord:
    """One row for the manifest store: what the registry keeps about a generation."""

    status: Literal["published", "failed"]
    watermark_id: str
    consent: dict[str, object]
    parameters: dict[str, object]
    created_at: str  # ISO 8601, UTC
    output_path: Path | None = None
    output_sha256: str | None = None
    manifest_json: str | None = None
    signer: dict[str, object] | None = None
    error: str | None = None
    fingerprint: bytes | None = field(default=None, repr=False)  # provenance.fingerprint blob


class GenerationRecorder(Protocol):
    """Writes a GenerationRecord to the registry; may raise to stop the publish.

    Called with status "published" just before the file is moved into place, or "failed" after
    a failure. If the "published" call raises or the move then fails, it is called again with
    "failed" for the same watermark_id: the last call wins.
    """

    def __call__(self, record: GenerationRecord) -> None: ...


@dataclass(frozen=True)
class PublishedOutput:
    """What the caller needs after a successful publish."""

    path: Path
    sha256: str
    watermark_id: str
    manifest_json: str
    validation_state: str
    signer: dict[str, object]
    credentials: str  # "development credentials" or "production credentials"
    watermark_confidence: float
    record: GenerationRecord = field(repr=False)


def _write_unsigned(write: UnsignedWriter, path: Path) -> None:
    """The writer's own errors (the pipeline's, a cancel) pass; anything else is the encoder's
    (PyAV, the filesystem): the MP4 was not written."""
    with raised_as(lambda exc: EncodingError(
            f"writing {path.name} failed: {type(exc).__name__}: {exc}")):
        write(path)


def publish_signed_mp4(final_path: Path, unsigned: Path | UnsignedWriter, facts: GenerationFacts,
                       credentials: SigningCredentials, record: GenerationRecorder, *,
                       watermark_key: WatermarkKey,
                       fingerprint: FingerprintSource | None = None,
                       identity: IdentitySigner | None = None) -> PublishedOutput:
    """Sign and publish one generation to `final_path` (see module docstring).

    `unsigned` is either a writer called with a temp path in the output folder, or the path of
    an unsigned MP4 that this call takes over: it is deleted whatever the outcome, because an
    unsigned output must not outlive the publish step. `watermark_key` is the key the frames
    were marked with: the signed file must carry the mark under it. `fingerprint`, called once the frames
    are written (e.g. `FingerprintRecorder.finish`), gives the blob recorded with the
    generation, which binds its watermark to its pictures. `identity`: the consent registry's
    signer of the CAWG identity assertion (`sign.sign_mp4`).

    Raises SigningError; errors of our own types raised by the writer or the recorder (e.g.
    Cancelled) pass through unchanged, after the same clean-up and failure record.
    """
    if final_path.suffix.lower() != ".mp4":
        raise InputError("output", f"{final_path.name} must end in .mp4")
    if not final_path.parent.is_dir():
        raise InputError("output", f"folder {final_path.parent} does not exist")
    created_at = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    temps = [unsigned] if isinstance(unsigned, Path) else []
    try:
        if isinstance(unsigned, Path):
            source = unsigned
        else:
            source = _temp_path(final_path, "unsigned", temps)
            _write_unsigned(unsigned, source)
        signed_tmp = _temp_path(final_path, "signed", temps)
        signed = sign_mp4(source, signed_tmp, facts, credentials, identity)
        found = _require_watermark(signed_tmp, facts.watermark_id, watermark_key)
        _flush_to_disk(signed_tmp)
        sha256 = file_sha256(signed_tmp)
        manifest_json = json.dumps(signed.reading.store, sort_keys=True)
        published = GenerationRecord(
            status="published", watermark_id=facts.watermark_id, consent=dict(facts.consent),
            parameters=dict(facts.parameters), created_at=created_at, output_path=final_path,
            output_sha256=sha256, manifest_json=manifest_json, signer=signed.signer,
            fingerprint=fingerprint() if fingerprint is not None else None)
        record(published)
        os.chmod(signed_tmp, 0o644)  # temp files are created private; the output is not
        os.replace(signed_tmp, final_path)
    except BaseException as exc:
        error = exc if isinstance(exc, SonicError) or not isinstance(exc, Exception) else \
            SigningError(f"publishing {final_path.name} failed: {exc}")
        _record_failure(record, facts, created_at, error)
        log.warning("not published %s: %s", final_path.name, error)
        if error is exc:
            raise
        raise error from exc
    finally:
        for path in temps:  # after a successful os.replace the signed temp is already gone
            path.unlink(missing_ok=True)
    if os.name == "posix":  # make the rename itself durable; Windows cannot open a folder
        _flush_to_disk(final_path.parent)
    log.info("published %s (watermark %s, %s)", final_path.name, facts.watermark_id,
             credentials.label)
    return PublishedOutput(
        path=final_path, sha256=sha256, watermark_id=facts.watermark_id,
        manifest_json=manifest_json, validation_state=signed.reading.validation_state,
        signer=signed.signer, credentials=credentials.label,
        watermark_confidence=found.confidence, record=published)


def _require_watermark(path: Path, watermark_id: str, key: WatermarkKey) -> WatermarkDetection:
    try:
        found = detect_video(path, key, max_frames=PUBLISH_CHECK_FRAMES,
                             known_ids=[watermark_id])
    except InputError as exc:  # our own encode is at fault here, not the user's input
        raise SigningError(f"the signed file cannot be checked for its watermark: {exc}") from exc
    if found.watermark_id != watermark_id:
        raise SigningError(
            f"the signed file does not carry watermark {watermark_id} "
            f"(detector found {found.watermark_id or 'none'} in {found.frames_checked} frames)",
            hint="the frames must pass through FrameWatermarker before encoding")
    return found


def _record_failure(record: GenerationRecorder, facts: GenerationFacts, created_at: str,
                    error: BaseException) -> None:
    failed = GenerationRecord(status="failed", watermark_id=facts.watermark_id,
                              consent=dict(facts.consent), parameters=dict(facts.parameters),
                              created_at=created_at, error=str(error))
    try:
        record(failed)
    except Exception:  # the original failure is what the caller must see
        log.exception("could not record the failed generation %s", facts.watermark_id)


def _temp_path(final_path: Path, kind: str, temps: list[Path]) -> Path:
    """A new empty file next to `final_path` (same filesystem, so os.replace is atomic)."""
    fd, name = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{kind}-", suffix=".mp4",
                                dir=final_path.parent)
    os.close(fd)
    temps.append(Path(name))
    return Path(name)


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

