"""A speech-like sample clip, so the quick-start and smoke tests run without a recording: a
voiced tone (110-170 Hz with harmonics) shaped into syllables of about 4 Hz. It is not speech;
with the seeded test weights nothing is, and with real weights it drives the lips only a little.
"""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

from ..errors import InputError

RATE = 16000  # Hz, what whisper resamples to anyway


def write_sample_speech(path: Path, seconds: float = 3.0) -> Path:
    """Write a mono 16-bit WAV of `seconds` (0.5 to 60) to `path`."""
    if not 0.5 <= seconds <= 60:
        raise InputError("--seconds", f"must be from 0.5 to 60, got {seconds}")
    if path.suffix.lower() != ".wav":
        raise InputError("OUT", f"{path.name} must end in .wav")
    samples = []
    phase = 0.0
    for i in range(int(seconds * RATE)):
        t = i / RATE
        pitch = 140 + 30 * math.sin(2 * math.pi * 0.7 * t)  # a slow intonation contour
        phase += 2 * math.pi * pitch / RATE
        voice = sum(math.sin(k * phase) / k for k in (1, 2, 3, 4))
        syllables = max(0.0, math.sin(2 * math.pi * 4 * t)) ** 0.5  # 4 syllables a second
        samples.append(int(9000 * voice * syllables / 2.1))
    try:
        with wave.open(str(path), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(RATE)
            wav.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    except OSError as exc:
        raise InputError("OUT", f"cannot write {path}: {exc.strerror}") from None
    return path
