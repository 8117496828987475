"""The only way in: UI, API, CLI and the WebUI adapter call this, never the stages directly.

`generate` is the product's promise, step by step (design §1):

    1. check inputs           (media.inputs, contracts)       before anything expensive
    2. consent gate           (consent/, identity/)           faces found -> decision record
    3. Sonic denoise          (sonic/)                        the clip's latents
    4. decode + interpolate   (sonic/)                        frames, streamed chunk by chunk
    5. watermark frames       (provenance/watermark)          on their way into the encoder
    6. encode + mux           (media/)                        into a temp file (publish.py)
    7. C2PA sign + read back  (provenance/sign, the registry's identity assertion)
    8. record + publish       registry + audit event, then an atomic rename (provenance/publish)

It runs in that order: step 3 at once (the latents are small), steps 4-6 as one stream of frame
chunks pulled by the encoder, so memory stays at a chunk. Each failure has its own type
(InputError, ConsentRefused, PipelineError or OutOfMemory, EncodingError, SigningError,
PublishError, Cancelled); whatever fails after the gate is recorded as a failed generation and
leaves no file behind. Progress stages, as clients see them: "check inputs", "denoise", "decode
and encode", "sign and publish", "verify" (the UI's read-back).
"""

from __future__ import annotations

import functools
import hmac
import importlib
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .consent.fields import check_allowed_purpose
from .contracts import GenerateRequest, GenerateResult, GenerationParams, VerifyReport
from .errors import (
    AdminRequired,
    ConsentRefused,
    InputError,
    NotAvailable,
    SigningError,
    SonicError,
    raised_as,
)
from .hosting import GenerationHost, StandaloneHost, tee
from .media.inputs import check_audio, check_image, check_output_path
from .policy import Policy, load_policy
from .progress import (
    CancelToken,
    ProgressCallback,
    StageTimer,
    ignore_progress,
    reported_chunks,
)
from .settings import Settings
from .sonic.layout import ModelsStatus, check_models

if TYPE_CHECKING:  # heavy imports (SQLAlchemy, dlib, torch, c2pa) load on first use only
    import numpy as np
    from PIL import Image

    from .consent import (
        ChainReport,
        ConsentDetails,
        ConsentRecord,
        ConsentRegistry,
        GateDecision,
    )
    from .lip_sync import SyncCheck
    from .provenance.fingerprint import FingerprintRecorder
    from .provenance.identity_assertion import IdentitySigner
    from .provenance.keys import SigningCredentials
    from .provenance.manifest import GenerationFacts
    from .provenance.trust import TrustPolicy
    from .provenance.watermark import FrameWatermarker
    from .provenance.watermark_key import WatermarkKey
    from .sonic.memory import GpuMemory
    from .sonic.stage import SonicStage
    from .verify import Recorded

log = logging.getLogger(__name__)



_PREPARED = object()  # only `prepare` holds it: a PreparedGeneration cannot be forged by hand


@dataclass(frozen=True)
class PreparedGeneration:
    """A request whose inputs were checked and whose faces passed the consent gate."""

    request: GenerateRequest
    purpose: str
    decision: GateDecision
    started: float
    audio_seconds: float
    _token: object = field(repr=False, compare=False, default=None)


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


TAIL_PREFETCH = 2  # chunks of 8-16 frames: a few MB at 512 px


class SonicService:
    """Composes the stages for one installation (one SONIC_HOME).

    Construction loads the policy, so an invalid policy stops every surface from starting.
    """

    def __init__(self, settings: Settings, policy: Policy | None = None,
                 credentials: SigningCredentials | None = None,
                 host: GenerationHost | None = None) -> None:
        """`credentials` overrides the configured signer, e.g. a KMS/HSM callback signer
        (`provenance.keys.callback_credentials`); `host` wraps each generation (a WebUI's
        queue lock, progress bar and Interrupt button)."""
        self.settings = settings
        self.host = host or StandaloneHost()
        self._credentials = credentials
        self.policy = policy or load_policy(settings.policy_path)
        self._lock = threading.Lock()
        self._registry: ConsentRegistry | None = None
        self._sonic: SonicStage | None = None
        # frame chunks decoded ahead of the watermark + encode step (0: one after the other;
        # bench/tail.py compares the two)
        self.tail_prefetch = TAIL_PREFETCH
        self.sweep_leftovers(settings.outputs_dir)

    @functools.cached_property
    def capabilities(self) -> Capabilities:
        """What works here, found by importing what each stage imports (a package that is
        present but broken, e.g. by an incompatible dependency, counts as missing); done on
        first use, since it loads torch."""
        provenance = _importable("sonic_ext.provenance.sign", "sonic_ext.provenance.watermark")
        return Capabilities(
            consent_gate=_importable("sonic_ext.identity.dlib_backend", "dlib"),
            pipeline=_importable("sonic_ext.sonic.pipeline", "sonic_ext.sonic.stage"),
            provenance=provenance, verify=provenance)

    def sweep_leftovers(self, folder: Path) -> int:
        """Remove what a publication killed midway (SIGKILL, power loss) left in `folder`'s
        staging folder; a generation it had recorded as published is marked failed, so the
        registry never points at a file that did not appear. The number of files removed."""
        from .provenance.staging import kind_of, leftovers, remove_staging_if_empty

        removed = 0
        for path in leftovers(folder):
            if kind_of(path) == "signed" and path.stat().st_size:
                try:
                    self._fail_unpublished(path)
                except Exception:  # kept for the next sweep: the registry must hear of it
                    log.exception("could not mark the generation of %s failed", path.name)
                    continue
            path.unlink(missing_ok=True)
            removed += 1
        if removed:
            remove_staging_if_empty(folder)
            log.warning("removed %d file(s) left in %s by a publication that was killed",
                        removed, folder)
        return removed

    def _fail_unpublished(self, signed: Path) -> None:
        from .provenance.manifest import file_sha256

        recorded = self.registry.find_generation(output_sha256=file_sha256(signed))
        if recorded is not None and recorded.status == "published":
            self.registry.mark_generation_failed(
                recorded.id, "startup-sweep",
                "the process publishing it was killed before the file appeared")

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
        """The whole generation: `prepare` (inputs + consent gate), then `run` the rest."""
        return self.run(self.prepare(request, progress, cancel), progress, cancel)

    def prepare(self, request: GenerateRequest, progress: ProgressCallback = ignore_progress,
                cancel: CancelToken | None = None) -> PreparedGeneration:
        """Steps 1-2, quick: a caller (the API) can answer a refusal before queueing a job."""
        cancel = cancel or CancelToken()
        cancel.raise_if_cancelled()
        started = time.monotonic()

        # 1. Check inputs: cheap checks first, so a typo costs no model load.
        checking = StageTimer("check inputs", 1, progress)
        purpose, audio_seconds = self.check_generate_request(request)
        checking.report(1, "inputs are readable")
        cancel.raise_if_cancelled()

        # 2. Consent gate: refuse unless every face matches a consented subject for `purpose`.
        self._require(self.capabilities.generate, "generation")
        decision = self.check_consent(request.image, purpose, request.requested_by,
                                      request.consent_ids, request.params)
        return PreparedGeneration(request, purpose, decision, started, audio_seconds,
                                  _token=_PREPARED)

    def run(self, prepared: PreparedGeneration, progress: ProgressCallback = ignore_progress,
            cancel: CancelToken | None = None) -> GenerateResult:
        """Steps 3-8 for a request that passed the gate in `prepare` (and only such a one)."""
        if prepared._token is not _PREPARED:
            raise ConsentRefused("this generation did not pass the consent gate")
        cancel = cancel or CancelToken()
        with self.host.generation(cancel) as host_progress:
            result = self._run(prepared, tee(progress, host_progress), cancel)
        self.host.published(result.out)
        return result

    def _run(self, prepared: PreparedGeneration, progress: ProgressCallback,
             cancel: CancelToken) -> GenerateResult:
        from .manifest_store import GenerationLog
        from .media.encode import write_mp4
        from .prefetch import prefetched
        from .provenance.publish import Publication
        from .provenance.watermark import FrameWatermarker
        from .sonic.stage import output_fps

        cancel.raise_if_cancelled()
        request, decision, params = prepared.request, prepared.decision, prepared.request.params
        facts = self._generation_facts(request, decision, prepared.purpose)
        portrait = self._verified_portrait(request.image, decision, facts)
        fps = output_fps(params)
        mark_key = self.watermark_key()  # set up before the minutes of denoising: fails fast
        marker = FrameWatermarker(facts.watermark_id, mark_key)
        fingerprinter = self._fingerprinter(portrait, decision, params, fps)
        generation = GenerationLog(self.registry, decision.consent_id, request.requested_by,
                                   watermark_id=facts.watermark_id, parameters=facts.parameters,
                                   also_relies_on=decision.consent_ids)
        try:
            # 3. Sonic denoise, on the face the gate matched (eager: the latents are small)
            denoised = self.sonic.denoise(portrait, decision.face_box, request.audio, params,
                                          seconds=prepared.audio_seconds, progress=progress,
                                          cancel=cancel)
            facts = replace(facts, runtime=denoised.placement.describe())  # auto's choice
            # 4. decode + interpolate, streamed chunk by chunk (nothing held whole), made
            # ahead in a worker while the chunk before is watermarked and encoded
            timer = StageTimer("decode and encode", max(1, round(prepared.audio_seconds * fps)),
                               progress)
            frames = prefetched(lambda: reported_chunks(self.sonic.decode(denoised), timer,
                                                        cancel), self.tail_prefetch)
            # 5. watermark every frame, and fingerprint the marked frames, which binds the mark
            # to these pictures in the registry
            marked = _marked(frames, marker, fingerprinter)
            segment = params.segment(prepared.audio_seconds)
            correction = None
            if params.lip_sync == "auto":  # measured on the marked frames as they pass
                from .lip_sync import AutoCorrection

                correction = AutoCorrection(request.audio, segment, fps)
                marked = correction.observing(marked)
            self.sweep_leftovers(request.out.parent)
            with Publication(request.out) as publication:
                # 6. encode + mux (H.264 + AAC) into a temp file beside the output; with
                # lip_sync=auto the sound is moved by the offset measured on the frames
                write_mp4(marked, publication.unsigned, fps=fps, audio=request.audio,
                          audio_seconds=prepared.audio_seconds, segment=segment,
                          sound_advance_ms=correction.sound_advance_ms if correction else None)
                if correction is not None:
                    facts = replace(facts, lip_sync=correction.record())
                # 7. C2PA sign (with the registry's identity assertion) + read back
                signing = StageTimer("sign and publish", 1, progress)
                signing.report(0, "signing")
                signed = publication.sign(facts, self.credentials(), watermark_key=mark_key,
                                          identity=self._identity_signer())
                # 8. record (refused if a consent ended meanwhile), then rename into place
                recorded = generation.published(signed, fingerprinter.finish())
                publication.publish()
        except BaseException as exc:
            generation.failed(exc)
            raise
        signing.report(1, "published")
        return GenerateResult(out=request.out, generation_id=recorded.id,
                              watermark_id=signed.watermark_id,
                              consent_id=decision.consent_id, sha256=signed.sha256,
                              credentials=signed.credentials,
                              seconds=round(time.monotonic() - prepared.started, 3))

    def _identity_signer(self) -> IdentitySigner:
        """The consent registry's signer of each output's CAWG identity assertion."""
        from .provenance.identity_assertion import IdentitySigner

        issuer = self.registry.issuer
        return IdentitySigner(issuer.chain_pem(), issuer.private_key_pem())

    def check_generate_request(self, request: GenerateRequest) -> tuple[str, float]:
        """Step 1 on its own: validate every field; return the normalised purpose and the
        length in seconds of the speech to animate (the segment `start`/`duration` choose)."""
        request.params.validate()
        purpose = check_allowed_purpose(request.purpose, self.policy.allowed_purposes)
        check_image(request.image, "image", max_pixels=self.policy.max_image_pixels)
        check_audio(request.audio, "audio")
        check_output_path(request.out, "out", overwrite=request.overwrite)
        # SQLAlchemy and PyAV: loaded only once the cheap checks passed
        from .consent.gate import check_claims
        from .media.audio import check_speech, speech_segment

        check_claims(request.consent_ids)
        if request.params.lip_sync == "auto":  # its landmark model, before any work
            from .lip_sync import require_landmarks

            require_landmarks()
        clip_seconds = check_speech(request.audio, self.policy.max_audio_seconds)
        start, end = speech_segment(request.params.start, request.params.duration, clip_seconds)
        return purpose, end - start

    def _require(self, available: bool, what: str) -> None:
        if not available:
            missing = [name for name, ok in self.capabilities.to_dict().items()
                       if not ok and name in ("consent_gate", "pipeline", "provenance")]
            raise NotAvailable(f"{what} is not available: this installation lacks "
                               f"{', '.join(missing)}",
                               hint="pip install 'sd-webui-sonic[ml,identity,provenance]'")

    @property
    def sonic(self) -> SonicStage:
        """The Sonic stage; models load on the first generation and stay loaded."""
        with self._lock:
            if self._sonic is None:
                from .sonic.stage import SonicStage

                self._sonic = SonicStage(self.settings.models_dir)
            return self._sonic

    def credentials(self) -> SigningCredentials:
        """The signer: given to the service, configured key files, or development credentials
        (made on first use and named as such in every manifest)."""
        from .provenance.keys import (
            DevKeyFiles,
            init_dev_keys,
            load_credentials,
            load_dev_credentials,
        )

        settings = self.settings
        if self._credentials is not None:
            return self._credentials
        if settings.signing_chain is not None and settings.signing_key is not None:
            return load_credentials(settings.signing_chain, settings.signing_key,
                                    trust_anchors=settings.trust_anchors, tsa_url=settings.tsa_url)
        if not DevKeyFiles.under(settings.keys_dir).exist():
            init_dev_keys(settings.keys_dir)
            log.warning("created development signing credentials in %s; outputs say so",
                        settings.keys_dir)
        return load_dev_credentials(settings.keys_dir, tsa_url=settings.tsa_url)

    def watermark_key(self, *, create: bool = True) -> WatermarkKey | None:
        """The key every mark of this installation is made and read with: SONIC_WATERMARK_KEY,
        else `<home>/keys/watermark.key`, made on first use when `create` (None if missing)."""
        from .provenance.watermark_key import KEY_FILE, load_watermark_key

        shared = self.settings.watermark_key_file
        return load_watermark_key(shared or self.settings.keys_dir / KEY_FILE, create=create,
                                  shared=shared is not None)

    @staticmethod
    def _fingerprinter(portrait: Image.Image, decision: GateDecision,
                       params: GenerationParams, fps: float) -> FingerprintRecorder:
        """The fingerprint recorder, told where the animated face is: the video frame is the
        pipeline's conditioning image (Sonic's crop when crop is on) resized, so the face box
        is given in that image's pixels."""
        from .framing import condition_on
        from .provenance.fingerprint import FingerprintRecorder

        if decision.face_box is None:
            return FingerprintRecorder(fps)
        conditioned, box = condition_on(portrait, decision.face_box, params.framing())
        return FingerprintRecorder(fps, box, box_space=conditioned.size)

    def _verified_portrait(self, path: Path, decision: GateDecision, facts: GenerationFacts
                           ) -> Image.Image:
        """The very pixels the gate checked: a file swapped after the check is refused."""
        from PIL import Image

        from .identity import load_portrait

        portrait = load_portrait(path, max_pixels=self.policy.max_image_pixels)
        if {portrait.sha256, facts.portrait.sha256} != {decision.image_sha256}:
            raise ConsentRefused("the portrait changed after the consent check; nothing was "
                                 "generated", hint="submit the portrait again")
        return Image.fromarray(portrait.rgb)

    def _generation_facts(self, request: GenerateRequest, decision: GateDecision,
                          purpose: str) -> GenerationFacts:
        from .provenance.manifest import GenerationFacts, InputFile
        from .provenance.payload import new_watermark_id
        from .sonic.stage import Placement

        placement = Placement.resolve(request.params)
        return GenerationFacts(
            portrait=InputFile.of(request.image, "portrait"),
            audio=InputFile.of(request.audio, "audio"),
            watermark_id=new_watermark_id(),
            model_checksums=model_checksums(self.settings.models_dir),
            consent=decision.to_dict(),
            parameters={**request.params.to_dict(), "purpose": purpose},
            title=request.out.name,
            consent_credentials=tuple(self.registry.consent_credentials(decision.consent_ids)),
            status_list_id=self.registry.issuer.status_list_id,
            runtime=placement.describe(),
            test_weights=self.models_status().test_weights)

    # -- consent --------------------------------------------------------------------------------

    def check_consent(self, image: Path, purpose: str, actor: str, claims: Sequence[str],
                      params: GenerationParams | None = None) -> GateDecision:
        """The gate on its own (also the dry run of `consent check`): a decision record, or
        ConsentRefused saying why; audited either way. `params` decide which pixels the model
        would see (the defaults of a generation when None)."""
        if not self.capabilities.consent_gate:
            raise NotAvailable("the consent gate needs the face-identity packages",
                               hint="pip install 'sd-webui-sonic[identity]'")
        from .consent import ConsentGate

        params = (params or GenerationParams()).validate()
        return ConsentGate(self.registry).check(image, purpose, actor, claims,
                                                params.framing())

    def require_admin(self, token: str | None, action: str = "consent changes") -> None:
        """Admin actions from the API and UI (consent changes, model downloads) need the admin
        token (compared in constant time); with none configured, those surfaces cannot do them
        at all (the CLI, run by the home's owner, can)."""
        expected = self.settings.admin_token
        if not expected:
            raise AdminRequired(f"{action} are disabled here: no admin token is configured",
                                hint="start with --admin-token-file (WebUI: "
                                     "--sonic-admin-token) or set SONIC_ADMIN_TOKEN, or use "
                                     "`sonic-ext` locally")
        if not token or not hmac.compare_digest(token.encode(), expected.encode()):
            raise AdminRequired(f"a valid admin token is required for {action}")

    def add_consent(self, name: str | None, portraits: Sequence[Path], evidence: Path,
                    purposes: Sequence[str], expires: datetime | None, recorded_by: str, *,
                    grantees: Sequence[str], subject_id: str | None = None) -> ConsentRecord:
        """Record a consent; with `subject_id`, a renewal for a person enrolled already."""
        return self.registry.add_consent(name, portraits, evidence, purposes, expires,
                                         recorded_by, grantees=grantees, subject_id=subject_id)

    def amend_consent(self, consent_id: str, recorded_by: str, **changes: Any
                      ) -> ConsentRecord:
        """A new consent replacing `consent_id` (purposes, expires, grantees, evidence)."""
        return self.registry.amend_consent(consent_id, recorded_by, **changes)

    def list_consents(self, granted_to: str | None = None) -> list[ConsentRecord]:
        """Every consent (admins), or only those in force that `granted_to` may use."""
        return self.registry.list_consents(granted_to)

    def show_consent(self, consent_id: str) -> ConsentDetails:
        return self.registry.show_consent(consent_id)

    def revoke_consent(self, consent_id: str, reason: str, actor: str) -> ConsentRecord:
        return self.registry.revoke_consent(consent_id, reason, actor)

    def verify_audit_chain(self, anchor_files: Sequence[Path] = ()) -> ChainReport:
        """The registry against its consent key and checkpoints, plus the checkpoints in
        `anchor_files` (exported checkpoint notes, or our outputs: their manifests carry one)."""
        from .consent.anchors import read_anchor

        trust = self.trust_policy() if anchor_files else None
        return self.registry.verify_chain([read_anchor(Path(f), trust) for f in anchor_files])

    def export_audit_checkpoints(self, folder: Path) -> dict[str, Any]:
        """Every signed checkpoint and the public key that verifies them, into `folder`."""
        from .consent.anchors import export_checkpoints

        return export_checkpoints(self.registry, folder)

    def adopt_unsigned(self, actor: str) -> dict[str, list[str]]:
        return self.registry.adopt_unsigned(actor)

    # -- verification -------------------------------------------------------------------------

    def verify(self, path: Path, trust_anchors: Path | None = None, *,
               status_list: Path | None = None, bundle: Path | None = None) -> VerifyReport:
        """One verdict for any file, under this installation's trust plus `trust_anchors`, and
        its Consent section: the manifest's consent credential checked against the consent
        trust anchors and `status_list` (default: this registry's list, now). `bundle`: an
        auditor bundle's folder (`auditor_bundle`), whose anchors and status list are used."""
        from .consent.bundle import AuditorBundle
        from .provenance.content_check import compare_aligned
        from .provenance.video_frames import check_frame_size
        from .verify import VIDEO_TYPES, judge, read_evidence

        path = Path(path)
        if not path.is_file():
            raise InputError("file", f"file not found: {path}")
        if path.suffix.lower() in VIDEO_TYPES:  # from the header, before a frame is decoded
            check_frame_size(path, self.policy.max_video_frame_pixels)
        auditor = AuditorBundle.read(bundle) if bundle is not None else None
        extra = auditor.content_anchors if auditor else trust_anchors
        evidence = read_evidence(path, self.trust_policy(extra),
                                 self.watermark_key(create=False),
                                 self.registry.published_watermark_ids())
        report = judge(path, evidence, self._records_of, compare_aligned)
        if evidence.manifest is None:
            return report
        report = _compared_with_record(report, path)
        return replace(report, consent_check=self._consent_check(
            evidence.manifest, extra, auditor, status_list))

    def sync_check(self, path: Path) -> SyncCheck:
        """How far a talking-head video's sound is ahead of or behind its mouth, or why that
        cannot be said (no face, no speech): any video, ours or not (`lip_sync.py`)."""
        from .lip_sync import check_video
        from .provenance.video_frames import check_frame_size

        path = Path(path)
        if not path.is_file():
            raise InputError("file", f"file not found: {path}")
        check_frame_size(path, self.policy.max_video_frame_pixels)
        return check_video(path)

    def _consent_check(self, manifest: Any, extra_anchors: Path | None,
                       auditor: Any, status_list: Path | None) -> dict[str, object]:
        from .consent.credential_check import check_consent
        from .consent.credentials import load_anchors
        from .provenance.manifest import CREDENTIAL_LABEL

        anchors = list(self.registry.issuer.anchors)
        for extra in (self.settings.trust_anchors, extra_anchors):
            if extra is not None:
                anchors += load_anchors(_read_setting_file(extra, "trust anchors"))
        if auditor is not None:
            anchors += auditor.consent_anchors
        token = None
        if status_list is not None:
            token = _read_setting_file(status_list, "status list").decode().strip()
        elif auditor is not None:
            token = auditor.status_list
        else:
            try:
                token = self.registry.status_list()
            except SonicError as exc:  # an altered registry publishes no list
                log.warning("no local status list for verification: %s", exc)
        carried = (manifest.assertion(CREDENTIAL_LABEL) or {}).get("credentials") or []
        return check_consent(manifest.consent or {}, carried, anchors, token,
                             self.registry.clock(), manifest.identities)

    def consent_status_list(self) -> str:
        """The registry's signed revocation status list, as of now (a VC-JWT)."""
        return self.registry.status_list()

    def auditor_bundle(self, folder: Path) -> dict[str, Any]:
        """What a third party needs to verify our files offline (`consent/bundle.py`)."""
        from .consent.bundle import write_bundle

        return write_bundle(self, folder)

    def trust_policy(self, extra_anchors: Path | None = None) -> TrustPolicy:
        """Whom verification trusts: this installation's root, the configured anchors and
        `extra_anchors`; signer EKUs from the configured file, else the defaults."""
        from .provenance.trust import ALLOWED_EKUS, TrustPolicy

        settings = self.settings
        trust = TrustPolicy.for_keys_dir(settings.keys_dir)
        for anchors in (settings.trust_anchors, extra_anchors):
            if anchors is not None:
                trust = trust.with_anchors(_read_setting_file(anchors, "trust anchors"))
        if settings.allowed_ekus is not None:
            text = _read_setting_file(settings.allowed_ekus, "allowed EKUs").decode()
            ekus = tuple(line.split("#")[0].strip() for line in text.splitlines())
            trust = TrustPolicy(trust.anchors_pem, tuple(e for e in ekus if e) or ALLOWED_EKUS)
        return trust

    def write_verify_report(self, report: VerifyReport, out: Path) -> Path:
        """The self-contained HTML report of a verification, with four frames of a video."""
        from .provenance.video_frames import iter_timed_frames
        from .report import PREVIEW_SIDE, preview, write_report
        from .verify import VIDEO_TYPES

        frames = []
        if report.path.suffix.lower() in VIDEO_TYPES:
            try:
                frames = [(index, preview(frame))
                          for index, _, frame in iter_timed_frames(report.path, 4,
                                                                   short_side=PREVIEW_SIDE)]
            except InputError:
                log.info("no frames for the report of %s", report.path)
        return write_report(report, out, frames)

    def _records_of(self, watermark_id: str) -> Recorded | None:
        """The generation with this watermark, its consent as it stands now, and the output's
        fingerprint."""
        from .verify import Recorded

        traced = self.registry.trace_watermark(watermark_id)
        if traced is None:
            return None
        # a report is for sharing: the evidence's hash identifies it, not its path here
        consent = {k: v for k, v in traced.consent.to_dict().items() if k != "evidence_path"}
        return Recorded(traced.generation.to_dict(), consent, traced.fingerprint)

    # -- status -------------------------------------------------------------------------------

    def models_status(self) -> ModelsStatus:
        return check_models(self.settings.models_dir)

    def gpu_memory(self, params: GenerationParams, seconds: float) -> GpuMemory:
        """Estimated peak GPU memory per offload mode for `seconds` of speech and a square crop
        at `params`' resolution and precision (sonic/memory.py), and the mode `auto` would pick
        on this machine's GPU, if it has one."""
        import torch

        from .framing import generation_size
        from .sonic.memory import (
            Architecture,
            GpuCard,
            GpuMemory,
            Shapes,
            cuda_budget,
            estimates,
            fitting_mode,
        )
        from .sonic.stage import DTYPES

        size = generation_size(1, 1, params.min_resolution)
        shapes = Shapes.of_generation(size, seconds, DTYPES[params.dtype],
                                      params.decode_chunk_size, params.interpolate)
        arch = Architecture.of(self.settings.models_dir)
        candidates = estimates(arch, shapes)
        gpu = None
        if torch.cuda.is_available():
            free, total = cuda_budget()
            fit = fitting_mode(candidates, free)
            gpu = GpuCard(torch.cuda.get_device_name(), free, total, fit.mode if fit else None)
        return GpuMemory(size, seconds, params.dtype, arch.source, tuple(candidates), gpu)

    def download_models(self, token: str | None = None,
                        progress: ProgressCallback = ignore_progress) -> list[str]:
        """Fetch the missing or wrong model files, reporting bytes with speed and ETA (a
        progress step is a byte); return their paths. Offline, ModelsMissing names each file,
        its URL and where to put it."""
        from .sonic.download import download_models
        from .text import readable_size

        timer: list[StageTimer] = []

        def on_bytes(done: int, total: int, path: str) -> None:
            if not timer:
                timer.append(StageTimer("download models", max(total, 1), progress))
            elapsed = time.monotonic() - timer[0].started
            speed = f" at {readable_size(done / elapsed)}/s" if elapsed > 0 and done else ""
            name = f"{path.rsplit('/', 1)[-1]}: " if path else ""
            timer[0].report(min(done, timer[0].total), f"{name}{readable_size(done) or '0 bytes'}"
                                                       f" of {readable_size(total)}{speed}")

        return download_models(self.settings.models_dir, token=token, on_bytes=on_bytes)

    def health(self) -> dict[str, object]:
        return {
            "status": "ok",
            "version": __version__,
            **self.settings.describe(),
            "policy_version": self.policy.version,
            "models": self.models_status().summary(),
            "capabilities": self.capabilities.to_dict(),
        }


def _compared_with_record(report: VerifyReport, path: Path) -> VerifyReport:
    """A signed file whose bytes are not the ones the registry recorded as published: C2PA
    hashes the boxes it knows, so bytes appended after them (a payload riding along) still
    validate; the registry's sha256 of the whole output does not."""
    from .provenance.manifest import file_sha256

    recorded = (report.generation or {}).get("output_sha256")
    if not recorded or file_sha256(path) == recorded:
        return report
    reason = {"code": "file.differs", "text": "the file's bytes are not those of the output "
              "this registry published (sha256 differs): something was added or changed "
              "outside what the manifest signs"}
    return replace(report, reasons=(*report.reasons, reason))


def _marked(frames: Iterable[Any], marker: FrameWatermarker,
            fingerprinter: FingerprintRecorder) -> Iterator[np.ndarray]:
    """Step 5: each chunk of frames watermarked and, as marked, fingerprinted; a failure here is
    a failure to sign the output (SigningError)."""
    from .media.encode import to_uint8_frames

    with raised_as(lambda exc: SigningError(f"watermarking the frames failed: {exc}")):
        for chunk in frames:
            yield fingerprinter.add(marker.embed(to_uint8_frames(chunk)))


def _read_setting_file(path: Path, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InputError(what, f"cannot read {path}: {exc.strerror}") from None


_CHECKSUMS: dict[tuple[str, int, int], str] = {}


def model_checksums(models_dir: Path) -> dict[str, str]:
    """sha256 of each weights file the generation used, for the manifest; cached per file
    version, so the 6 GB UNet is hashed once per process, not once per video."""
    from .hashing import file_sha256
    from .sonic.layout import OFFICIAL_LAYOUT

    sums = {}
    for entry in OFFICIAL_LAYOUT:
        path = models_dir / entry.path
        if path.suffix in (".json",) or not path.is_file():
            continue
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _CHECKSUMS:
            _CHECKSUMS[key] = file_sha256(path)
        sums[entry.path] = _CHECKSUMS[key]
    return sums


def _importable(*modules: str) -> bool:
    for module in modules:
        try:
            importlib.import_module(module)
        except Exception as exc:  # noqa: BLE001 - any failure to import means "not here"
            log.warning("%s cannot be imported (%s: %s): its capability is off", module,
                        type(exc).__name__, exc)
            return False
    return True
