"""A Sonic generation as a WebUI job (research/webui.md §5).

Inside the host's `queue_lock`, so it never overlaps txt2img, img2img or another extension's GPU
work; reported through `shared.state`, so the host's /sdapi/v1/progress and progress bar show it;
stopped by the host's Interrupt button (`shared.state.interrupted`) through our CancelToken.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from ..progress import CancelToken, ProgressCallback, ProgressEvent, polled
from .webui_memory import host_models_moved_aside
from .webui_settings import option, save_copy

T = TypeVar("T")

JOB = "sonic"
INTERRUPTED = "interrupted in the WebUI"


class WebUIHost:
    """The GenerationHost for AUTOMATIC1111 1.10 and Forge; only imports `modules.*` when a
    generation starts, so the service can be built before the host finished starting."""

    def __init__(self, interrupt_poll_s: float = 0.1) -> None:
        self.interrupt_poll_s = interrupt_poll_s

    @contextmanager
    def generation(self, cancel: CancelToken) -> Iterator[ProgressCallback]:
        from modules import call_queue, progress, shared

        task_id = progress.create_task_id(JOB)
        progress.add_task_to_queue(task_id)  # listed by /internal/pending-tasks while we wait
        with call_queue.queue_lock:
            state = shared.state
            state.begin(job=JOB)
            state.job_count = 1
            state.textinfo = "Sonic: starting"
            progress.start_task(task_id)
            try:
                with host_models_moved_aside(), _interrupt_watcher(state, cancel,
                                                                   self.interrupt_poll_s):
                    yield _state_reporter(state, cancel)
            finally:
                progress.finish_task(task_id)
                state.end()

    def published(self, out: Path) -> None:
        """A copy under the WebUI's outputs folder, as its Settings say (`webui_settings`)."""
        save_copy(out)

    def preference(self, name: str, default: T) -> T:
        return option(name, default)


def _state_reporter(state: Any, cancel: CancelToken) -> ProgressCallback:
    """Our events as the host's job state: denoising steps drive its progress bar."""

    def report(event: ProgressEvent) -> None:
        if event.stage == "denoise":
            state.sampling_steps = event.total
            state.sampling_step = event.step
        state.textinfo = describe(event)
        _cancel_if_interrupted(state, cancel)

    return report


def describe(event: ProgressEvent) -> str:
    """One line for the host's progress text, e.g. `Sonic: denoise 3/12, ETA 41 s`."""
    text = f"Sonic: {event.stage} {event.step}/{event.total}"
    if event.eta_s is not None:
        text += f", ETA {event.eta_s:.0f} s"
    return text


def _interrupt_watcher(state: Any, cancel: CancelToken, poll_s: float
                       ) -> AbstractContextManager[None]:
    """Also catch an Interrupt while no progress arrives (e.g. while Sonic's models load)."""
    return polled(lambda: cancel.cancelled or _cancel_if_interrupted(state, cancel), poll_s,
                  "sonic-webui-interrupt")


def _cancel_if_interrupted(state: Any, cancel: CancelToken) -> None:
    if state.interrupted and not cancel.cancelled:
        cancel.cancel(INTERRUPTED)
