"""Verify's memory does not grow with the resolution of the file it is given.

A 200 KB 4096x4096 video made verify hold every sampled frame at full size (2.1 GB, against
0.36 GB for the same video at 512 px). Each frame is now reduced as it is decoded; the peak RSS
of a `verify` process is measured for both sizes, in fresh processes (each process reports its own).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from sonic_ext import SonicService

FRAMES = 40
# what decoding a 4096x4096 H.264 stream needs by itself (its reference frames, one frame
# converted at a time) is about 70 MB; holding the sampled frames took 1,700 MB more
ALLOWED_GROWTH_MB = 150


def _gradient_video(path: Path, side: int) -> Path:
    """A smooth, moving gradient: tiny once encoded, huge once decoded."""
    ramp = (np.add.outer(np.arange(side), np.arange(side)) * 255 // (2 * side)).astype(np.uint8)
    base = np.stack([ramp, ramp[::-1], ramp.T], axis=-1)
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width = stream.height = side
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": "ultrafast", "crf": "40"}
        for index in range(FRAMES):
            frame = av.VideoFrame.from_ndarray(np.roll(base, 8 * index, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


# The child reports its own high-water mark (VmHWM of the program it became): wait4's
# ru_maxrss would count the pytest process's memory that the fork copied before the exec.
_CHILD = """import runpy, sys
try:
    runpy.run_module("sonic_ext", run_name="__main__")
finally:
    print(next(line for line in open("/proc/self/status") if line.startswith("VmHWM")),
          file=sys.stderr)
"""


def _verify_peak_mb(home: Path, video: Path) -> int:
    done = subprocess.run([sys.executable, "-c", _CHILD, "--home", str(home), "verify",
                           str(video), "--json"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"verdict": "no-provenance"' in done.stdout
    return int(re.search(r"VmHWM:\s+(\d+) kB", done.stderr)[1]) // 1024


@pytest.mark.timeout(600)
def test_verify_peak_memory_is_flat_from_512_to_4096_px(service: SonicService,
                                                        tmp_path: Path) -> None:
    small = _verify_peak_mb(service.settings.home, _gradient_video(tmp_path / "s.mp4", 512))
    large = _verify_peak_mb(service.settings.home, _gradient_video(tmp_path / "l.mp4", 4096))
    print(f"verify peak RSS: 512 px {small} MB, 4096 px {large} MB")
    assert large - small < ALLOWED_GROWTH_MB, (small, large)
