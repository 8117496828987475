"""Like modules/shared_state.py: the one job state behind /sdapi/v1/progress and Interrupt."""

import datetime
import logging
import time

from modules import devices

log = logging.getLogger(__name__)


class State:
    skipped = False
    interrupted = False
    stopping_generation = False
    job = ""
    job_no = 0
    job_count = 0
    job_timestamp = "0"
    sampling_step = 0
    sampling_steps = 0
    current_image = None
    textinfo = None
    time_start = None
    server_start = None

    def __init__(self):
        self.server_start = time.time()

    def interrupt(self):
        """What the Interrupt button and POST /sdapi/v1/interrupt call."""
        self.interrupted = True
        log.info("Received interrupt request")

    def skip(self):
        self.skipped = True
        log.info("Received skip request")

    def dict(self):
        return {"skipped": self.skipped, "interrupted": self.interrupted,
                "stopping_generation": self.stopping_generation, "job": self.job,
                "job_count": self.job_count, "job_timestamp": self.job_timestamp,
                "job_no": self.job_no, "sampling_step": self.sampling_step,
                "sampling_steps": self.sampling_steps}

    def begin(self, job="(unknown)"):
        self.sampling_step = 0
        self.time_start = time.time()
        self.job_count = -1
        self.job_no = 0
        self.job_timestamp = datetime.datetime.now().strftime("%Y%m%d%H%M%S")
        self.current_image = None
        self.skipped = False
        self.interrupted = False
        self.stopping_generation = False
        self.textinfo = None
        self.job = job
        devices.torch_gc()
        log.info("Starting job %s", job)

    def end(self):
        log.info("Ending job %s (%.2f seconds)", self.job, time.time() - self.time_start)
        self.job = ""
        self.job_count = 0
        devices.torch_gc()
