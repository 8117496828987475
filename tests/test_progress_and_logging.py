from __future__ import annotations

import logging

import pytest

from sonic_ext import Cancelled, CancelToken, ProgressEvent, Settings
from sonic_ext.logging_setup import LOG_FILE_NAME, LOGGER_NAME, configure_logging
from sonic_ext.progress import StageTimer, reported_chunks


def test_stage_timer_estimates_eta_from_mean_step_time() -> None:
    now = [100.0]
    events: list[ProgressEvent] = []
    timer = StageTimer("denoise", 25, events.append, clock=lambda: now[0])
    timer.report(0)
    now[0] += 10.0
    timer.report(5, "step 5")
    first, fifth = events
    assert first.eta_s is None and first.fraction == 0.0
    assert (fifth.step, fifth.total, fifth.elapsed_s, fifth.eta_s) == (5, 25, 10.0, 40.0)
    assert fifth.to_dict()["fraction"] == 0.2


def test_cancel_token_carries_its_reason() -> None:
    token = CancelToken()
    token.raise_if_cancelled()
    token.cancel("interrupted from the WebUI")
    assert token.cancelled
    with pytest.raises(Cancelled, match="interrupted from the WebUI"):
        token.raise_if_cancelled()


def test_log_file_rotates_under_home_and_reconfiguring_does_not_stack_handlers(
        settings: Settings) -> None:
    configure_logging(settings)
    logger = configure_logging(settings)
    ours = [h for h in logger.handlers if getattr(h, "_sonic_ext_handler", False)]
    assert len(ours) == 1
    assert isinstance(ours[0], logging.handlers.RotatingFileHandler)
    assert ours[0].maxBytes > 0 and ours[0].backupCount > 0
    logging.getLogger(f"{LOGGER_NAME}.test").info("hello from the test")
    ours[0].flush()
    assert "hello from the test" in (settings.logs_dir / LOG_FILE_NAME).read_text()


def test_frame_chunks_report_progress_and_stop_on_cancel() -> None:
    events: list[ProgressEvent] = []
    cancel = CancelToken()
    chunks = reported_chunks(([0] * 4 for _ in range(5)), StageTimer("encode", 18, events.append),
                             cancel)
    taken = [next(chunks), next(chunks)]
    next(chunks)  # the consumer took two chunks: 8 frames reported
    assert [e.step for e in events] == [4, 8] and len(taken) == 2
    cancel.cancel("stop")
    with pytest.raises(Cancelled, match="stop"):
        next(chunks)
    assert events[-1].step == 12  # the third chunk was taken before the cancel
    events.clear()
    assert len(list(reported_chunks([[0] * 4], StageTimer("encode", 5, events.append),
                                    CancelToken()))) == 1
    assert [e.step for e in events] == [4, 5]  # a short stream still ends complete
