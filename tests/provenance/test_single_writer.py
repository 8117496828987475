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
    # the encoder: only the service, into a publication's temp file
    r"\bwrite_mp4\(": {"media/encode.py", "service.py"},
    # publishing: only the service starts one
    r"\bPublication\(": {"service.py", "provenance/publish.py"},
    # moving a file into place: the publish step (and the registry, for consent evidence files,
    # and the job store, for its JSON records)
    r"\bos\.(replace|rename)\(": {"provenance/publish.py", "consent/evidence.py", "adapters/jobs.py"},
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
    run = service[service.index("def _run("):]
    run = run[:run.index("\n    def ")]
    # every frame is marked, then fingerprinted as marked, on its way into the encoder, which
    # writes into the publication's temp file; only then is it signed and published
    steps = ["marked = _marked(frames, marker, fingerprinter)",
             "with Publication(request.out) as publication:",
             "write_mp4(marked, publication.unsigned,", "publication.sign(",
             "generation.published(signed, fingerprinter.finish())", "publication.publish()"]
    positions = [run.index(step) for step in steps]
    assert positions == sorted(positions)
    marking = service[service.index("def _marked("):]
    assert "yield fingerprinter.add(marker.embed(to_uint8_frames(chunk)))" in marking
