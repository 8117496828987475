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

import importlib.util
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ._version import __version__
from .errors import InputError, NotAvailable
from .media.inputs import check_audio, check_image, check_output_path
from .policy import Policy, load_policy
from .progress import CancelToken, ProgressCallback, StageTimer, ignore_progress
from .requests import GenerateRequest, GenerateResult, VerifyReport
from .settings import Settings
from .sonic.layout import ModelsStatus, check_models

if TYPE_CHECKING:  # heavy imports (SQLAlchemy, dlib, torch) load on first use only
    from .consent import ChainReport, ConsentDetails, ConsentRecord, ConsentRegistry, GateDecision

log = logging.getLogger(__name__)

VERIFIABLE_SUFFIXES = (".mp4", ".mov", ".m4v", ".jpg", ".jpeg", ".png", ".wav", ".mp3")


@dataclass(frozen=True)
class Capabilities:
    """Which stages this installation has; `health` reports them so clients know what works."""

    consent_gate: bool = False
    pipeline: bool = False
    provenance: bool = False
    verify: bool = False

    @property
    def generate(self) -> bool:
        """Generation needs all three: nothing unconsented, nothing unsigned."""
        return self.consent_gate and self.pipeline and self.provenance

    def to_dict(self) -> dict[str, bool]:
        return {"consent_gate": self.consent_gate, "pipeline": self.pipeline,
                "provenance": self.provenance, "verify": self.verify, "generate": self.generate}


class SonicService:
    """Composes the stages for one installation (one SONIC_HOME).

    Construction loads the policy, so an invalid policy stops every surface from starting.
    """

    def __init__(self, settings: Settings, policy: Policy | None = None) -> None:
        self.settings = settings
        self.policy = policy or load_policy(settings.policy_path)
        self.capabilities = Capabilities(
            consent_gate=_installed("dlib"), pipeline=_installed("torch", "diffusers"))
        self._lock = threading.Lock()
        self._registry: ConsentRegistry | None = None

    @property
    def registry(self) -> ConsentRegistry:
        """The consent registry, opened (and migrated) on first use."""
        with self._lock:
            if self._registry is None:
                from .consent import ConsentRegistry

                self._registry = ConsentRegistry.open(self.settings, self.policy)
            return self._registry

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
        decision = self.check_consent(request.image, purpose, request.requested_by)
        cancel.raise_if_cancelled()

        log.info("generation passed the gate (consent %s) but cannot be signed here",
                 decision.consent_id)
        raise NotAvailable(
            "generation is not available: this installation cannot sign outputs yet, and an "
            "output that cannot be signed is not written",
            hint="watermarking and C2PA signing ship with the provenance module")

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

    # -- consent --------------------------------------------------------------------------------

    def check_consent(self, image: Path, purpose: str, actor: str) -> GateDecision:
        """The gate on its own: a decision record, or ConsentRefused saying why."""
        if not self.capabilities.consent_gate:
            raise NotAvailable("the consent gate needs the face-identity packages",
                               hint="pip install 'sd-webui-sonic[identity]'")
        from .consent import ConsentGate

        return ConsentGate(self.registry).check(image, purpose, actor)

    def add_consent(self, name: str, portraits: Sequence[Path], evidence: Path,
                    purposes: Sequence[str], expires: datetime | None,
                    recorded_by: str) -> ConsentRecord:
        return self.registry.add_consent(name, portraits, evidence, purposes, expires,
                                         recorded_by)

    def list_consents(self) -> list[ConsentRecord]:
        return self.registry.list_consents()

    def show_consent(self, consent_id: str) -> ConsentDetails:
        return self.registry.show_consent(consent_id)

    def revoke_consent(self, consent_id: str, reason: str, actor: str) -> ConsentRecord:
        return self.registry.revoke_consent(consent_id, reason, actor)

    def verify_audit_chain(self) -> ChainReport:
        return self.registry.verify_chain()

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


def _installed(*modules: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in modules)
