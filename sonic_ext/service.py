"""The only way in: UI, API, CLI and the WebUI adapter call this, never the stages directly.

`generate` reads top to bottom as the product's promise (design §1):

    1. check inputs           (media.inputs, requests)
    2. consent gate           (consent/, identity/)          faces found -> decision record
    3. Sonic pipeline         (sonic/)                       frames, streamed chunk by chunk
    4. watermark frames       (provenance/watermark)
    5. encode + mux           (media/)
    6. C2PA sign + verify     (provenance/c2pa)
    7. atomic publish         write temp, verify, rename
    8. record generation      registry + audit event

Stages join the service as their modules land; until the consent gate exists, generation is
refused after step 1, because nothing may be generated without it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ._version import __version__
from .errors import InputError, NotAvailable
from .media.inputs import check_audio, check_image, check_output_path
from .policy import Policy, load_policy
from .progress import CancelToken, ProgressCallback, StageTimer, ignore_progress
from .requests import GenerateRequest, GenerateResult, VerifyReport
from .settings import Settings
from .sonic.layout import ModelsStatus, check_models

log = logging.getLogger(__name__)

VERIFIABLE_SUFFIXES = (".mp4", ".mov", ".m4v", ".jpg", ".jpeg", ".png", ".wav", ".mp3")


@dataclass(frozen=True)
class Capabilities:
    """Which stages this installation has; `health` reports them so clients know what works."""

    consent_gate: bool = False
    pipeline: bool = False
    provenance: bool = False
    verify: bool = False

    def to_dict(self) -> dict[str, bool]:
        return {"consent_gate": self.consent_gate, "pipeline": self.pipeline,
                "provenance": self.provenance, "verify": self.verify}


class SonicService:
    """Composes the stages for one installation (one SONIC_HOME).

    Construction loads the policy, so an invalid policy stops every surface from starting.
    """

    def __init__(self, settings: Settings, policy: Policy | None = None) -> None:
        self.settings = settings
        self.policy = policy or load_policy(settings.policy_path)
        self.capabilities = Capabilities()

    # -- generation ---------------------------------------------------------------------------

    def generate(self, request: GenerateRequest, progress: ProgressCallback = ignore_progress,
                 cancel: CancelToken | None = None) -> GenerateResult:
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()

        # 1. Check inputs: cheap checks first, so a typo costs no model load.
        checking = StageTimer("check inputs", 1, progress)
        purpose = self.check_generate_request(request)
        checking.report(1, "inputs are readable")
        cancel.raise_if_cancelled()

        # 2. Consent gate: refuse unless every face matches a consented subject for `purpose`.
        log.info("generation refused before the gate: no consent gate installed (purpose %s)",
                 purpose)
        raise NotAvailable(
            "generation is not available: this installation has no consent gate yet, and "
            "nothing is generated without one",
            hint="the consent registry and face-identity gate ship in a later release")

    def check_generate_request(self, request: GenerateRequest) -> str:
        """Step 1 on its own: validate every field, return the normalised purpose."""
        request.params.validate()
        purpose = request.validate_purpose()
        allowed = self.policy.allowed_purposes
        if allowed and purpose not in allowed:
            raise InputError("purpose", f"{purpose!r} is not a purpose this installation allows",
                             hint=f"the policy allows: {', '.join(allowed)}")
        check_image(request.image, "image")
        check_audio(request.audio, "audio")
        check_output_path(request.out, "out", overwrite=request.overwrite)
        return purpose

    # -- verification -------------------------------------------------------------------------

    def verify(self, path: Path) -> VerifyReport:
        path = Path(path)
        if not path.is_file():
            raise InputError("file", f"file not found: {path}")
        if path.suffix.lower() not in VERIFIABLE_SUFFIXES:
            raise InputError("file", f"cannot verify {path.suffix or 'files without a suffix'}",
                             hint=f"supported: {', '.join(VERIFIABLE_SUFFIXES)}")
        raise NotAvailable("verification is not available in this installation yet",
                           hint="C2PA and watermark checks ship with the provenance module")

    # -- status -------------------------------------------------------------------------------

    def models_status(self) -> ModelsStatus:
        return check_models(self.settings.models_dir)

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "version": __version__,
            **self.settings.describe(),
            "policy_version": self.policy.version,
            "models": self.models_status().summary(),
            "capabilities": self.capabilities.to_dict(),
        }
