"""A generation inside the WebUI: the host's queue lock, job state, Interrupt and model memory.

Real generations (tiny weights, one step) through the service that `make_service` builds, against
the fake host modules; the host's side is watched the way the host itself reads it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

from sonic_ext import (
    Cancelled,
    CancelToken,
    GenerateRequest,
    GenerationParams,
    ProgressEvent,
    SonicService,
)
from sonic_ext.adapters import webui
from sonic_ext.adapters.webui_host import WebUIHost
from sonic_ext.sonic import stage
from tests.conftest import consent_ids, write_tone_wav

FACES = Path(__file__).resolve().parents[1] / "fixtures" / "faces"
FAST = GenerationParams(steps=1, min_resolution=256, seed=0)
GPU = torch.device("cuda")  # what the host's SD model is moved back to; never touched for real


class RecordingSdModel(torch.nn.Module):
    """An SD checkpoint that notes where the host sends it instead of going there."""

    lowvram = False

    def __init__(self) -> None:
        super().__init__()
        self.moves: list[str] = []

    def to(self, *args: Any, **kwargs: Any) -> RecordingSdModel:
        self.moves.append(str(torch.device(kwargs.get("device", args[0] if args else None))))
        return self


@pytest.fixture
def webui_service(fake_webui: ModuleType, obama_consented: SonicService,
                  tiny_models: Path) -> SonicService:
    """The WebUI's service (`make_service`, flags pointing at a consented installation)."""
    from modules import shared

    shared.cmd_opts.sonic_home = str(obama_consented.settings.home)
    shared.cmd_opts.sonic_models_dir = str(tiny_models)
    return webui.make_service()


@pytest.fixture
def sd_model(fake_webui: ModuleType, monkeypatch: pytest.MonkeyPatch) -> RecordingSdModel:
    """A loaded SD checkpoint whose device is the GPU."""
    from modules import sd_models, shared

    monkeypatch.setattr(shared, "device", GPU)
    model = RecordingSdModel()
    sd_models.model_data.set_sd_model(model)
    sd_models.model_data.was_loaded_at_least_once = True
    return model


def _request(tmp_path: Path, service: SonicService) -> GenerateRequest:
    speech = write_tone_wav(tmp_path / "speech.wav", seconds=1.0)
    out = tmp_path / "out"
    out.mkdir()
    return GenerateRequest(FACES / "obama2.jpg", speech, out / "talk.mp4", "education", FAST,
                           consent_ids=consent_ids(service))


def _lock_is_free(lock: Any) -> bool:
    """Try the lock from another thread, as another WebUI job would, without waiting."""
    taken: list[bool] = []

    def attempt() -> None:
        taken.append(lock.acquire(blocking=False))
        if taken[0]:
            lock.release()

    other = threading.Thread(target=attempt)
    other.start()
    other.join()
    return taken[0]


@contextmanager
def _polling(read: Callable[[], tuple], every_s: float = 0.01) -> Iterator[list[tuple]]:
    """Sample host state from another thread, like a client polling /sdapi/v1/progress."""
    samples: list[tuple] = []
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            samples.append(read())

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        yield samples
    finally:
        stop.set()
        poller.join()


def test_a_generation_is_a_webui_job(webui_service: SonicService, sd_model: RecordingSdModel,
                                     monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from modules import call_queue, progress, shared

    moves_when_sonic_loaded: list[list[str]] = []
    load_models = stage.load_models

    def recording_load_models(*args: Any, **kwargs: Any) -> Any:
        moves_when_sonic_loaded.append(list(sd_model.moves))
        return load_models(*args, **kwargs)

    monkeypatch.setattr(stage, "load_models", recording_load_models)
    lock_free_while_denoising: list[bool] = []
    denoise: list[ProgressEvent] = []

    def on_progress(event: ProgressEvent) -> None:
        if event.stage == "denoise":
            denoise.append(event)
            lock_free_while_denoising.append(_lock_is_free(call_queue.queue_lock))

    state = shared.state
    with _polling(lambda: (state.job, state.job_count, state.sampling_step,
                           state.sampling_steps, state.textinfo)) as samples:
        result = webui_service.generate(_request(tmp_path, webui_service), progress=on_progress)

    assert result.out.is_file()
    # the queue lock was held: no other WebUI job could start while Sonic ran
    assert lock_free_while_denoising and not any(lock_free_while_denoising)
    assert _lock_is_free(call_queue.queue_lock)
    # the host's job state showed our steps, and the job ended
    total = denoise[-1].total
    assert ("sonic", 1, total, total) in [s[:4] for s in samples]
    assert any(str(s[4]).startswith(f"Sonic: denoise {total}/{total}") for s in samples)
    assert (state.job, state.job_count) == ("", 0)
    assert progress.current_task is None and progress.finished_tasks[-1].startswith("task(sonic-")
    # the SD model left the GPU before Sonic's weights loaded, and came back after
    assert moves_when_sonic_loaded == [["cpu"]]
    assert sd_model.moves == ["cpu", "cuda"]


def test_the_webui_interrupt_cancels_and_writes_nothing(webui_service: SonicService,
                                                        tmp_path: Path) -> None:
    from modules import call_queue, shared

    def press_interrupt_once_sonic_runs() -> None:  # POST /sdapi/v1/interrupt, from elsewhere
        deadline = time.monotonic() + 120
        while shared.state.job != "sonic" and time.monotonic() < deadline:
            time.sleep(0.01)
        shared.state.interrupt()

    user = threading.Thread(target=press_interrupt_once_sonic_runs)
    user.start()
    request = _request(tmp_path, webui_service)
    with pytest.raises(Cancelled, match="interrupted in the WebUI"):
        webui_service.generate(request)
    user.join()
    assert list(request.out.parent.iterdir()) == []
    assert (shared.state.job, shared.state.job_count) == ("", 0)
    assert _lock_is_free(call_queue.queue_lock)


def test_an_interrupt_while_nothing_reports_progress_is_caught(fake_webui: ModuleType) -> None:
    from modules import shared

    cancel = CancelToken()
    with WebUIHost(interrupt_poll_s=0.01).generation(cancel):
        shared.state.interrupt()
        deadline = time.monotonic() + 5
        while not cancel.cancelled and time.monotonic() < deadline:
            time.sleep(0.01)
        assert cancel.reason == "interrupted in the WebUI"


def test_no_sd_model_loaded_means_none_is_loaded_for_us(fake_webui: ModuleType) -> None:
    from modules import sd_models

    with WebUIHost().generation(CancelToken()):
        pass
    assert sd_models.model_data.sd_model is None
    assert not sd_models.model_data.was_loaded_at_least_once


def test_failing_to_free_memory_is_logged_not_fatal(sd_model: RecordingSdModel,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    from modules import sd_models, shared

    def broken_unload(sd_model: Any = None, info: Any = None) -> None:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(sd_models, "unload_model_weights", broken_unload)
    with caplog.at_level(logging.WARNING, logger="sonic_ext.adapters.webui_memory"), \
            WebUIHost().generation(CancelToken()) as report:
        report(ProgressEvent("denoise", 1, 4))
        assert (shared.state.job, shared.state.sampling_step) == ("sonic", 1)
    assert "could not move the SD model off the GPU" in caplog.text
    assert sd_model.moves == []  # nothing to bring back either


def test_on_forge_its_memory_manager_unloads_everything(fake_forge: ModuleType,
                                                        sd_model: RecordingSdModel) -> None:
    memory_management = fake_forge
    forge_unet = RecordingSdModel()
    memory_management.current_loaded_models.append(
        memory_management.LoadedModel(forge_unet))
    memory_management.signal_empty_cache = True
    with WebUIHost().generation(CancelToken()):
        assert memory_management.current_loaded_models == []
        assert forge_unet.moves == ["cpu"]
        assert memory_management.signal_empty_cache is False
    assert sd_model.moves == []  # A1111's path is not taken on Forge
    assert forge_unet.moves == ["cpu"]  # Forge loads its models back per job itself
