"""A throwaway installation for the benchmarks that run the whole product: seeded tiny test
weights and one consent for the fixture portrait, as a user's first generation would have."""

from __future__ import annotations

from pathlib import Path

from sonic_ext import Settings, SonicService
from sonic_ext.sonic.tiny import make_tiny_tree

REPO = Path(__file__).resolve().parents[1]
FACES = REPO / "tests" / "fixtures" / "faces"
RELEASE = REPO / "tests" / "fixtures" / "consent" / "example-release.pdf"
PORTRAIT = FACES / "obama2.jpg"  # another photo of the enrolled person
PURPOSE = "education"


def consented_service(work: Path, queue_url: str | None = None) -> tuple[SonicService, str]:
    """A service whose home and tiny models live under `work` (in queue mode on `queue_url`,
    a PostgreSQL database), and its one consent's id."""
    settings = Settings.from_environment({}, home=work / "home", queue_url=queue_url,
                                         models_dir=make_tiny_tree(work / "tiny", seed=0))
    settings.ensure_dirs()
    service = SonicService(settings)
    consent = service.add_consent("Barack Obama", [FACES / "obama.jpg"], RELEASE, [PURPOSE],
                                  None, "bench", grantees=["any"])
    return service, consent.id
