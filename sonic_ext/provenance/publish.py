"""Atomic publish: an MP4 appears at its final path only signed, verified and recorded.

A `Publication` is one output on its way there, in the order the steps run:

    with Publication(final_path) as publication:
        ... encode + mux into publication.unsigned (a temp file) ...
        signed = publication.sign(facts, credentials, ...)   # C2PA sign + read back + mark check
        ... the caller records `signed` in the registry ...
        publication.publish()                                 # fsync, then os.replace

Its temp files sit in a private staging folder beside the output (`staging`: same filesystem,
so the rename is atomic) and are removed when the block is left, whatever happened, so there is
never an unsigned or half-written output, nor a stray temp file; what a killed process left
there is swept by the next one to start (`SonicService.sweep_leftovers`). Each step raises its
own error: SigningError only for signing.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import InputError, PublishError, SigningError, raised_as
from .identity_assertion import IdentitySigner
from .keys import SigningCredentials
from .manifest import GenerationFacts, file_sha256
from .sign import sign_mp4
from .staging import remove_staging_if_empty, staged_file
from .watermark import WatermarkDetection, detect_video
from .watermark_key import WatermarkKey

log = logging.getLogger(__name__)

PUBLISH_CHECK_FRAMES = 8


@dataclass(frozen=True)
class SignedOutput:
    """A signed temp file that passed its read-back: what the registry records of it."""

    sha256: str
    watermark_id: str
    manifest: dict[str, Any]  # the manifest store as c2pa read it back
    validation_state: str
    signer: dict[str, object]
    credentials: str  # "development credentials" or "production credentials"
    watermark_confidence: float


class Publication:
    """One MP4 on its way to `final_path` (see the module docstring)."""

    unsigned: Path  # where the encoder writes, once the block is entered

    def __init__(self, final_path: Path) -> None:
        if final_path.suffix.lower() != ".mp4":
            raise InputError("output", f"{final_path.name} must end in .mp4")
        if not final_path.parent.is_dir():
            raise InputError("output", f"folder {final_path.parent} does not exist")
        self.final_path = final_path
        self._temps: list[Path] = []
        self._signed: Path | None = None

    def __enter__(self) -> Publication:
        self.unsigned = self._temp("unsigned")
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        for path in self._temps:  # after publish() the signed temp is already gone
            path.unlink(missing_ok=True)
        remove_staging_if_empty(self.final_path.parent)
        if error is not None:
            log.warning("not published %s: %s", self.final_path.name, error)

    def sign(self, facts: GenerationFacts, credentials: SigningCredentials, *,
             watermark_key: WatermarkKey, identity: IdentitySigner | None = None
             ) -> SignedOutput:
        """Sign the unsigned MP4 into a second temp file and read it back: the manifest at the
        expected validation state and the watermark `facts.watermark_id` under
        `watermark_key` (the frames' key) in a few frames. `identity`: the consent registry's
        signer of the CAWG identity assertion (`sign.sign_mp4`). Raises SigningError."""
        signed_path = self._temp("signed")
        with raised_as(lambda exc: SigningError(
                f"signing {self.final_path.name} failed: {exc}")):
            signed = sign_mp4(self.unsigned, signed_path, facts, credentials, identity)
            found = _require_watermark(signed_path, facts.watermark_id, watermark_key)
            _flush_to_disk(signed_path)
            sha256 = file_sha256(signed_path)
        self._signed = signed_path
        return SignedOutput(sha256=sha256, watermark_id=facts.watermark_id,
                            manifest=signed.reading.store,
                            validation_state=signed.reading.validation_state,
                            signer=signed.signer, credentials=credentials.label,
                            watermark_confidence=found.confidence)

    def publish(self) -> Path:
        """Move the signed file into place, durably; the final path. Raises PublishError."""
        if self._signed is None:
            raise PublishError(f"{self.final_path.name} was not signed: nothing is published")
        with raised_as(lambda exc: PublishError(
                f"moving {self.final_path.name} into place failed: {exc}")):
            os.chmod(self._signed, 0o644)  # temp files are created private; the output is not
            os.replace(self._signed, self.final_path)
            if os.name == "posix":  # make the rename itself durable; Windows cannot open a folder
                _flush_to_disk(self.final_path.parent)
        log.info("published %s", self.final_path.name)
        return self.final_path

    def _temp(self, kind: str) -> Path:
        """A new empty file in the staging folder beside the final path."""
        path = staged_file(self.final_path.parent, kind)
        self._temps.append(path)
        return path


def copy_published(out: Path, folder: Path) -> Path:
    """A byte-identical copy of a published output in another folder (a WebUI's outputs), put
    in place like the original: written under a temporary name, then renamed, so it is whole or
    absent. It is the signed file itself: it needs no signing of its own. Raises OSError."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=folder, prefix=f".{out.stem}-", suffix=".part")
    os.close(handle)
    try:
        shutil.copyfile(out, temp)
        os.chmod(temp, 0o644)
        os.replace(temp, folder / out.name)
    finally:
        Path(temp).unlink(missing_ok=True)
    return folder / out.name


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


def _flush_to_disk(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY if path.is_dir() else os.O_RDWR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
