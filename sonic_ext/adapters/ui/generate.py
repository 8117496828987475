"""The Generate tab: portrait + speech clip to a signed video, with live progress and Cancel.

The consent gate runs in `service.prepare`, called from the Python handler, so a direct call
through gradio's own API is refused exactly like a click, at once. What passes becomes a job of
the installation's one job worker, the API's too (`job_view`): it outlives the page, and a
reloaded page or a second tab follows it. Progress streams from generator handlers (the same
under the gradio 3.41 and 4.x queues); Cancel sets the job's CancelToken, which the pipeline
checks between steps, and the service then writes nothing.

The user picks the consents the video relies on from those granted to them (`granted`); the
picker and a read-only listing of those consents load with the page, when the tab is selected
and on Refresh.
"""

from __future__ import annotations

import itertools
import logging
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ...contracts import DEFAULT_PURPOSE, GenerateRequest, GenerationParams
from ...errors import SonicError
from ...parameters import ParamSpec, param_specs
from ...presets import STANDARD, all_presets, resolve
from ...progress import ProgressCallback, ignore_progress
from ...service import PreparedGeneration, SonicService
from ..demo import demo_home, run_demo
from ..jobs import ACTIVE_STATES, JobFinished, Jobs, UnknownJob, jobs_for, new_job_id
from ..webui_send import SENT_IMAGE_ID
from .background import BackgroundCall
from .batch import BATCH_HEADERS, BatchHandlers
from .cache import private_folder
from .compat import custom_values, keep_out_of_ui_config, shown_inline, upload_path
from .errors import ui_error
from .granted import (
    GRANTED_HEADERS,
    claimed_ids,
    granted_rows,
    picker_update,
    purpose_update,
    requester,
)
from .job_view import Outputs, follow, latest_job
from .render import notice_html, progress_html, provenance_html, test_weights_html
from .verify import verify_with_report

log = logging.getLogger(__name__)

# The order of the parameter inputs after (portrait, speech, purpose): their declaration order,
# which keeps gradio's /generate API callable with (image, audio, purpose, seed, steps,
# min_resolution). The consents picked come last, after every parameter.
PARAM_ORDER = GenerationParams.field_names()
PURPOSE_HELP = ("what the video is for; the person's recorded consent must cover it (listed: "
                "the purposes of the consents granted to you)")
CONSENTS_HELP = ("the consent of each person shown, one per person; listed are the consents in "
                 "force that are granted to you")
# gr.File, not gr.Image/gr.Audio: those re-encode uploads, so the manifest would record the
# hashes of gradio's copies instead of the user's files (and MP3 would need ffmpeg).
IMAGE_TYPES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
AUDIO_TYPES = (".wav", ".mp3", ".flac", ".m4a")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
PRESET_HELP = ("fills the parameters below: fast (drafts), standard (the official defaults), "
               "quality (1024 px), or this installation's own; change any of them after")
NOTIFY_HELP = ("a sound when the run ends, and a browser notification while this page is in the "
               "background (the browser asks once)")


def params_from_ui(values: Mapping[str, Any],
                   params_class: type[GenerationParams] = GenerationParams) -> GenerationParams:
    """GenerationParams from widget values (gradio hands over whole numbers as floats);
    the service's own validation then names any field out of range."""
    kinds = {spec.name: spec.kind for spec in param_specs(params_class)}
    coerced: dict[str, Any] = {}
    for name, value in values.items():
        kind = kinds[name]
        if kind is int and isinstance(value, float) and value.is_integer():
            value = int(value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        coerced[name] = value
    return params_class(**coerced)


def prepare_generation(service: SonicService, image: Any, audio: Any, purpose: str | None,
                       params: Mapping[str, Any] | None = None, *,
                       consents: Iterable[Any] | str | None = None, requested_by: str = "ui",
                       progress: ProgressCallback = ignore_progress) -> PreparedGeneration:
    """The Generate button up to its job: the same `service.prepare` as the CLI and API (inputs
    checked, consent gate passed). `params` are the parameter widgets' values by name (the
    others keep their defaults), `consents` the picker's values (labels or ids): the consents
    claimed. Refusals and bad input raise gr.Error with the service's message."""
    image_path, audio_path = upload_path(image), upload_path(audio)
    if image_path is None or audio_path is None:
        raise gr.Error("Upload a portrait and a speech clip first.")
    try:
        return service.prepare(generation_request(service, image_path, audio_path, purpose,
                                                  params, consents, requested_by), progress)
    except SonicError as exc:
        raise ui_error(exc) from None


def generation_request(service: SonicService, image: Path, audio: Path, purpose: str | None,
                       params: Mapping[str, Any] | None, consents: Iterable[Any] | str | None,
                       requested_by: str) -> GenerateRequest:
    """The request of one UI generation (InputError for a parameter out of range)."""
    return GenerateRequest(image, audio, output_path(service, image), purpose or DEFAULT_PURPOSE,
                           params_from_ui(params or {}), requested_by=requested_by,
                           consent_ids=claimed_ids(consents))


def output_path(service: SonicService, portrait: Path) -> Path:
    """Named after the user's portrait (gradio keeps an upload's name), made unique:
    `outputs/<portrait>-<6 hex>.mp4`."""
    stem = _UNSAFE_NAME.sub("-", portrait.stem).strip("-.")[:40] or "sonic"
    return service.settings.outputs_dir / f"{stem}-{uuid.uuid4().hex[:6]}.mp4"


class GenerateHandlers:
    def __init__(self, service: SonicService, jobs: Jobs | None = None) -> None:
        self.service = service
        self.jobs = jobs or jobs_for(service)

    def run(self, request: gr.Request, image: Any, audio: Any, purpose: str | None,
            *values: Any) -> Iterator[Outputs]:
        """Stream (job id, status, video, summary, report file): the inputs and the consent
        gate are checked here, at once; what passes becomes a job the page then follows.

        `values`: the parameter inputs in PARAM_ORDER, then the consents picked. gradio places
        `request` by its position, so it comes first, before the variable inputs."""
        params, consents = dict(zip(PARAM_ORDER, values)), values[len(PARAM_ORDER)]
        owner = requester(request)
        call = BackgroundCall(lambda progress: prepare_generation(
            self.service, image, audio, purpose, params, consents=consents,
            requested_by=owner, progress=progress), name="sonic-ui-prepare")
        yield None, progress_html(None), None, "", None
        for event in call.updates():
            yield None, progress_html(event), gr.update(), gr.update(), gr.update()
        try:
            prepared = call.result()
        except Exception as exc:  # a refusal (gr.Error) or a bug: the page says so, then
            yield None, notice_html("error", _error_text(exc)), None, "", None
            if isinstance(exc, gr.Error):  # said inline: no popup repeats it, and it is
                raise shown_inline(exc) from None  # still the error of an API call
            raise  # gradio reports it as the call's error
        job = self.jobs.submit(new_job_id(), prepared, owner)
        yield from follow(self.service, job, raise_failure=True)

    def resume(self, request: gr.Request) -> Iterator[tuple[Any, ...]]:
        """On page load: follow the user's job that is still going (or just ended), with the
        Generate button disabled until it ends and the purpose, consents and parameters it was
        started with filled in; nothing changes when there is none."""
        owner = requester(request)
        job = latest_job(self.jobs, owner)
        unchanged = (gr.update(),) * (2 + len(PARAM_ORDER))
        if job is None:
            yield (gr.update(),) * 5 + (gr.update(interactive=True),) + unchanged
            return
        inputs = unchanged if job.request is None else filled_in(
            self.service, owner, job.request.purpose, job.request.consent_ids,
            job.request.params.to_dict())[0]
        for outputs in follow(self.service, job, raise_failure=False):
            yield (*outputs, gr.update(interactive=job.state not in ACTIVE_STATES), *inputs)
            inputs = unchanged  # set once: the user may edit them for the next run meanwhile

    def preset_values(self, name: str | None) -> tuple[dict[str, Any], ...]:
        """Every parameter input set as the chosen preset says (the others at their defaults)."""
        try:
            values = resolve(name, {}, self.service.policy.presets).to_dict()
        except SonicError as exc:
            raise ui_error(exc) from None
        return tuple(gr.update(value=values[name]) for name in PARAM_ORDER)

    def cancel(self, job_id: str | None, request: gr.Request) -> str:
        try:
            self.jobs.cancel(job_id or "", requester(request), "cancelled from the UI")
        except (UnknownJob, JobFinished):
            return notice_html("idle", "Nothing is running.")
        return notice_html("cancelling", "Cancelling after the current step…")

    def demo_offer(self) -> dict[str, Any]:
        """The demo is offered on the standalone page while no consent exists here."""
        return gr.update(visible=self.service.settings.host != "webui"
                         and not self.service.list_consents())

    def demo(self) -> Iterator[tuple[Any, ...]]:
        """Stream (status, video, summary, report file) while `run_demo` makes a demo video in
        the demo home (never this installation's registry)."""
        home = demo_home(self.service.settings)
        call = BackgroundCall(lambda progress: run_demo(home, progress), name="sonic-ui-demo")
        yield progress_html(None, "Setting up the demo"), None, "", None
        for event in call.updates():
            yield progress_html(event), gr.update(), gr.update(), gr.update()
        try:
            run = call.result()
            report, report_path = verify_with_report(run.service, run.result.out)
        except SonicError as exc:
            error = ui_error(exc)
            yield notice_html("error", str(error.message)), None, "", None
            raise shown_inline(error) from None
        yield (notice_html("done", f"DEMO done in {run.result.seconds:.1f} s with test weights "
                                   f"(no real animation): {run.result.out.name}, in the demo "
                                   f"home {home.name}/"),
               str(run.result.out), provenance_html(run.result, report), str(report_path))

    def receive_sent(self, image: Any) -> tuple[Any, Any, Any]:
        """(portrait, preview, status) for a picture a WebUI's "Send to Sonic" put in: saved as
        a PNG in the private cache, it is the portrait like any upload (the gate checks it)."""
        if image is None:
            return gr.update(), gr.update(), gr.update()
        folder = private_folder(self.service, "sent", "sent-*.png")
        path = folder / f"sent-{uuid.uuid4().hex[:8]}.png"
        image.save(path, format="PNG")
        return str(path), str(path), notice_html(
            "idle", f"Portrait received from the WebUI ({image.width}x{image.height}): pick the "
                    "consent of the person shown; the consent gate checks this picture like "
                    "any upload.")

    def weights_notice(self) -> str:
        """A warning on the tab itself while the models folder holds seeded test weights."""
        if not self.service.models_status().test_weights:
            return ""
        return test_weights_html("TEST WEIGHTS are loaded (models make-tiny): videos made here "
                                 "show no real speech animation, and their manifests and "
                                 "reports say so.")

    def granted(self, picked: list[str] | None, purpose: str | None, request: gr.Request
                ) -> tuple[dict[str, Any], dict[str, Any], list[list[str]]]:
        """(picker update, purpose update, listing rows): the consents in force granted to this
        page's user and the purposes they cover, keeping the choices that still are."""
        try:
            records = self.service.list_consents(granted_to=requester(request))
        except SonicError as exc:
            raise ui_error(exc) from None
        return (picker_update(records, picked),
                purpose_update(records, purpose, self.service.policy.allowed_purposes),
                granted_rows(records))


def _error_text(exc: Exception) -> str:
    if isinstance(exc, gr.Error):
        return str(exc.message)
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class GenerateTab:
    """What other tabs fill in (History's "use these settings again"), and `load_with`, which
    the page calls with its gr.Blocks (a tab has no load event of its own): the consent
    pickers, the test-weights notice and the user's running job, when the page opens."""

    purpose: gr.components.Component
    picker: gr.components.Component
    params: list[gr.components.Component]
    load_with: Callable[[gr.Blocks], None]


def generate_tab(service: SonicService) -> GenerateTab:
    """Build the tab."""
    handlers = GenerateHandlers(service)
    with gr.Tab("Generate", elem_id="sonic_tab_generate") as tab:
        gr.Markdown("A portrait and a speech clip become a lip-synced MP4, watermarked and "
                    "C2PA-signed. Only people whose consent is recorded for the purpose can be "
                    "animated.")
        weights_notice = gr.HTML(elem_id="sonic_weights_notice")
        with gr.Row(visible=False, elem_id="sonic_demo_offer") as demo_offer:
            gr.Markdown("**New here?** The demo makes one signed video in a separate demo home: "
                        "test weights, a public-domain NASA portrait and a demo consent that "
                        "says it is one. Nothing is added to this installation's registry.")
            demo = gr.Button("Try the demo", elem_id="sonic_demo", scale=0, min_width=160)
        with gr.Row():
            with gr.Column(scale=1):
                with gr.Row():
                    portrait = gr.File(label="Portrait (JPEG, PNG, WebP)",
                                       file_types=list(IMAGE_TYPES), elem_id="sonic_portrait")
                    speech = gr.File(label="Speech (WAV, MP3, FLAC, M4A)",
                                     file_types=list(AUDIO_TYPES), elem_id="sonic_speech")
                gr.HTML(f"<span id='sonic_speech_duration' data-max-seconds="
                        f"'{service.policy.max_audio_seconds:g}'></span>")
                with gr.Row():
                    portrait_preview = gr.Image(label="Portrait preview", interactive=False,
                                                height=220, elem_id="sonic_portrait_preview")
                    speech_preview = gr.Audio(label="Speech preview", interactive=False,
                                              elem_id="sonic_speech_preview")
                # A direct API call may name any purpose; the gate checks it against the consents.
                purpose = gr.Dropdown([DEFAULT_PURPOSE], value=DEFAULT_PURPOSE, label="Purpose",
                                      info=PURPOSE_HELP, **custom_values(),
                                      elem_id="sonic_purpose")
                with gr.Row():
                    # Custom values: a direct API call may claim a consent by its bare id; the
                    # gate checks every claim, its grantees included.
                    picker = gr.Dropdown([], value=[], multiselect=True, **custom_values(),
                                         label="Consents this video relies on",
                                         info=CONSENTS_HELP, scale=4,
                                         elem_id="sonic_consents")
                    refresh = gr.Button("Refresh", size="sm", scale=1, min_width=100,
                                        elem_id="sonic_consents_refresh")
                with gr.Accordion("Consents granted to you", open=False,
                                  elem_id="sonic_granted"):
                    granted = gr.Dataframe(headers=GRANTED_HEADERS, interactive=False,
                                           elem_id="sonic_granted_table")
                presets = all_presets(service.policy.presets)
                chosen = default_preset(service, presets)
                preset = gr.Dropdown(list(presets), value=chosen, label="Preset",
                                     info=PRESET_HELP, elem_id="sonic_preset")
                params = parameter_inputs(resolve(chosen, {}, service.policy.presets))
                with gr.Row():
                    start = gr.Button("Generate", variant="primary", elem_id="sonic_generate")
                    stop = gr.Button("Cancel", variant="stop", elem_id="sonic_cancel")
                # Read by javascript/sonic.js in the page only; a WebUI's Settings set its start.
                notify = gr.Checkbox(service.host.preference("notify_when_done", False),
                                     label="Tell me when it is done", info=NOTIFY_HELP,
                                     elem_id="sonic_notify")
                with gr.Accordion("Batch: this portrait with many speech clips", open=False,
                                  elem_id="sonic_batch"):
                    gr.Markdown("Each clip becomes its own signed video of the portrait above, "
                                "with the purpose, consents and parameters above; each passes "
                                "the consent gate on its own. Finished videos are also in "
                                "History.")
                    clips = gr.File(label="Speech clips (one video each)",
                                    file_count="multiple", file_types=list(AUDIO_TYPES),
                                    elem_id="sonic_batch_speech")
                    batch = gr.Button("Generate one video per clip",
                                      elem_id="sonic_batch_start")
                    batch_table = gr.Dataframe(headers=BATCH_HEADERS, interactive=False,
                                               elem_id="sonic_batch_table")
            with gr.Column(scale=1):
                status = gr.HTML(elem_id="sonic_status")
                video = gr.Video(label="Signed video", interactive=False, elem_id="sonic_video")
                summary = gr.HTML(elem_id="sonic_provenance")
                report_file = gr.File(label="Verification report (HTML)", interactive=False,
                                      elem_id="sonic_report_file")
        run_id = gr.State(None)
        # The preset decides the parameters' starting values (a WebUI's Settings choose it); a
        # ui-config.json that pinned them too would silently override that choice.
        keep_out_of_ui_config(purpose, picker, notify, preset, *params)
        if service.settings.host == "webui":  # where the WebUI's "Send to Sonic" puts pictures
            sent = gr.Image(type="pil", visible=False, elem_id=SENT_IMAGE_ID)
            sent.change(handlers.receive_sent, inputs=sent,
                        outputs=[portrait, portrait_preview, status], api_name=False)

        preset.change(handlers.preset_values, inputs=preset, outputs=params, api_name=False,
                      show_progress="hidden")
        portrait.change(_preview_of(IMAGE_TYPES), inputs=portrait, outputs=portrait_preview,
                        api_name=False)
        speech.change(_preview_of(AUDIO_TYPES), inputs=speech, outputs=speech_preview,
                      api_name=False)
        # Generate is disabled while its run goes on (Cancel stays), and enabled again however
        # the run ended: `then` follows failures too.
        start.click(_interactive(False), outputs=start, api_name=False, queue=False) \
            .then(handlers.run, inputs=[portrait, speech, purpose, *params, picker],
                  outputs=[run_id, status, video, summary, report_file], api_name="generate",
                  show_progress="hidden") \
            .then(_interactive(True), outputs=start, api_name=False, queue=False)
        batch.click(BatchHandlers(service, handlers.jobs).run,
                    inputs=[portrait, clips, purpose, *params, picker], outputs=batch_table,
                    api_name="batch", show_progress="hidden")
        demo.click(handlers.demo, outputs=[status, video, summary, report_file], api_name=False,
                   show_progress="hidden")
        stop.click(handlers.cancel, inputs=[run_id], outputs=status, api_name="cancel",
                   queue=False, show_progress="hidden")
        choices = {"inputs": [picker, purpose], "outputs": [picker, purpose, granted]}
        refresh.click(handlers.granted, **choices, api_name="consents_granted")
        tab.select(handlers.granted, **choices, api_name=False, show_progress="hidden")

    def load_with(page: gr.Blocks) -> None:
        page.load(handlers.weights_notice, outputs=weights_notice, api_name=False,
                  show_progress="hidden")
        page.load(handlers.demo_offer, outputs=demo_offer, api_name=False,
                  show_progress="hidden")
        # after the pickers are listed, so that the resumed run's picks are not listed away
        page.load(handlers.granted, **choices, api_name=False, show_progress="hidden") \
            .then(handlers.resume, outputs=[run_id, status, video, summary, report_file, start,
                                            purpose, picker, *params],
                  api_name=False, show_progress="hidden")

    return GenerateTab(purpose, picker, params, load_with)


def filled_in(service: SonicService, owner: str, purpose: str, consent_ids: Sequence[str],
              made: Mapping[str, Any]) -> tuple[tuple[Any, ...], list[str]]:
    """(updates, left out): the purpose, consent picker and every parameter input (PARAM_ORDER)
    set as a run was made, and the consents left out as no longer in force or granted."""
    records = service.list_consents(granted_to=owner)
    granted = {record.id for record in records}
    return ((purpose_update(records, purpose, service.policy.allowed_purposes),
             picker_update(records, list(consent_ids)),
             *(gr.update(value=made[name]) if name in made else gr.update()
               for name in PARAM_ORDER)),
            [consent_id for consent_id in consent_ids if consent_id not in granted])


def _interactive(enabled: bool) -> Callable[[], dict[str, Any]]:
    return lambda: gr.update(interactive=enabled)


def _preview_of(suffixes: tuple[str, ...]) -> Callable[[Any], str | None]:
    """A handler showing an upload in its preview when it has one of `suffixes` (a wrong file
    is reported by the service on Generate, not by a preview that cannot render it)."""
    def preview(upload: Any) -> str | None:
        path = upload_path(upload)
        return str(path) if path is not None and path.suffix.lower() in suffixes else None

    return preview


def default_preset(service: SonicService, presets: Mapping[str, Any]) -> str:
    """The preset the tab starts with: the host's `default_preset` option (a WebUI's
    Settings), when it names one this deployment has, else `standard`."""
    name = str(service.host.preference("default_preset", STANDARD))
    if name not in presets:
        log.warning("the default preset %r is not one of %s; starting with %s", name,
                    ", ".join(presets), STANDARD)
        return STANDARD
    return name


def parameter_inputs(initial: GenerationParams) -> list[gr.components.Component]:
    """One input per generation parameter of `initial`'s class, in declaration order, made from
    its declaration and set to `initial`'s value; the advanced ones in an accordion, a row for
    each run of inputs of one kind."""
    specs = param_specs(type(initial))
    made = {spec.name: _widget(spec, initial) for spec in specs if not spec.advanced}
    with gr.Accordion("Advanced parameters", open=False, elem_id="sonic_advanced"):
        advanced = [spec for spec in specs if spec.advanced]
        for _, group in itertools.groupby(advanced, key=lambda spec: spec.ui_widget):
            with gr.Row():
                made.update({spec.name: _widget(spec, initial) for spec in group})
    return [made[spec.name] for spec in specs]


def _widget(spec: ParamSpec, initial: GenerationParams) -> gr.components.Component:
    common = {"value": getattr(initial, spec.name), "label": spec.label, "info": spec.help,
              "elem_id": f"sonic_{spec.name}"}
    widget = spec.ui_widget
    if widget == "checkbox":
        return gr.Checkbox(**common)
    if widget == "dropdown":
        return gr.Dropdown(list(spec.choices), **common)
    if widget == "number":
        return gr.Number(precision=0 if spec.kind is int else None, **common)
    low = spec.low + spec.ui_step if spec.low_open else spec.low  # type: ignore[operator]
    return gr.Slider(low, spec.high, step=spec.ui_step, **common)
