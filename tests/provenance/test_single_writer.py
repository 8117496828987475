"""Every MP4 the product writes goes through the provenance step: a search of the source for any
other writer (a PyAV/imageio/ffmpeg output, a call of the encoder, a move into place)."""

from __future__ import annotations

import re
from pathlib import Path

import sonic_ext

PACKAGE = Path(sonic_ext.__file__).parent
WRITERS = {
    # PyAV output containers: only the encoder opens one
    r"av\.open\(.*[\"']w[\"']": {"media/encode.py"},
    # the encoder: only the service, inside the writer it hands to publish_signed_mp4
    r"\bwrite_mp4\(": {"media/encode.py", "service.py"},
    # publishing: only the service calls it
    r"\bpublish_signed_mp4\(": {"provenance/publish.py", "service.py"},
    # moving a file into place: the publish step (and the registry, for consent evidence files,
    # and the job store, for its JSON records)
    r"\bos\.(replace|rename)\(": {"provenance/publish.py", "consent/evidence.py", "jobs.py"},
    # other ways to write video that must not appear at all
    r"imageio|ffmpeg_extract|subprocess\.[a-z_]+\([^)]*ffmpeg|cv2\.VideoWriter": set(),
}


def test_no_mp4_writer_outside_the_provenance_path() -> None:
    sources = {str(p.relative_to(PACKAGE)): p.read_text() for p in PACKAGE.rglob("*.py")}
    for pattern, allowed in WRITERS.items():
        found = {name for name, text in sources.items() if re.search(pattern, text)}
        assert found == allowed, (pattern, found)


def test_the_service_writes_only_through_publish() -> None:
    service = (PACKAGE / "service.py").read_text()
    writer = service[service.index("def write_unsigned"):]
    writer = writer[:writer.index("publish_signed_mp4(")]
    # every frame is marked, and the fingerprint is of the marked frames, as written
    assert "write_mp4(" in writer
    assert "frame_hook=lambda chunk: fingerprinter.add(marker.embed(chunk))" in writer
