"""A demo installation, to see the whole flow in a minute before installing 8 GB of weights.

`sonic-ext demo` (and the standalone page's Demo button while no consent exists) sets up a
separate home, `<home>/demo` unless told otherwise: seeded test weights, the public-domain NASA
portrait of Eileen Collins (`demo/portrait.jpg`) enrolled for the purpose `demo` with a release
that says it is a demo nobody signed (`demo/release.pdf`), and the speech-like sample clip;
then one generation through the same gate, signing and verification as any other. The demo
never touches the installation's own registry, so no consent is faked there, and test weights
animate nothing, so no talking head of anyone is made; the consent, the file names, the
manifest and the report all say "demo" or "test weights".
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

from ..contracts import GenerateRequest, GenerateResult, GenerationParams
from ..errors import InputError
from ..media.sample_audio import write_sample_speech
from ..package_data import data_path
from ..progress import ProgressCallback, ignore_progress
from ..service import SonicService
from ..settings import Settings

DEMO_PURPOSE = "demo"
DEMO_SUBJECT = "Eileen Collins (DEMO: public-domain NASA portrait)"
DEMO_ACTOR = "sonic-ext demo"
SPEECH_SECONDS = 2.0
# small and quick on a CPU: the test weights animate nothing whatever the settings
DEMO_PARAMS = GenerationParams(seed=0, steps=2, min_resolution=256)


@dataclass(frozen=True)
class DemoRun:
    service: SonicService  # the demo home's: verify the result with it
    result: GenerateResult


def demo_home(settings: Settings) -> Path:
    return settings.home / "demo"


def run_demo(home: Path, progress: ProgressCallback = ignore_progress) -> DemoRun:
    """Set up (or reuse) the demo home and make one signed demo video there."""
    service = _demo_service(home)
    speech = home / "inputs" / "speech.wav"
    if not speech.is_file():
        speech.parent.mkdir(parents=True, exist_ok=True)
        write_sample_speech(speech, SPEECH_SECONDS)
    consent = _demo_consent(service)
    out = service.settings.outputs_dir / f"demo-{uuid.uuid4().hex[:6]}.mp4"
    result = service.generate(GenerateRequest(
        data_path("demo/portrait.jpg"), speech, out, DEMO_PURPOSE, DEMO_PARAMS,
        requested_by=DEMO_ACTOR, consent_ids=(consent,)), progress)
    return DemoRun(service, result)


def _demo_service(home: Path) -> SonicService:
    if home.exists() and not (home / "demo.txt").is_file() and any(home.iterdir()):
        raise InputError("--demo-home", f"{home} is not a demo home: it is not empty and was "
                                        "not made by `sonic-ext demo`",
                         hint="name an empty or new folder")
    settings = Settings.from_environment({}, home=home, models_dir=home / "models")
    settings.ensure_dirs()
    (home / "demo.txt").write_text("A demo home made by `sonic-ext demo`: test weights, a demo "
                                   "consent, no real outputs. Safe to delete.\n",
                                   encoding="utf-8")
    service = SonicService(settings)
    if not service.models_status().test_weights:
        from ..sonic.tiny import make_tiny_tree

        make_tiny_tree(settings.models_dir)
    return service


def _demo_consent(service: SonicService) -> str:
    """The demo consent's id: recorded on the first run, found again afterwards."""
    for record in service.list_consents():
        if record.subject_name == DEMO_SUBJECT and DEMO_PURPOSE in record.purposes:
            return record.id
    return service.add_consent(DEMO_SUBJECT, [data_path("demo/portrait.jpg")],
                               data_path("demo/release.pdf"), [DEMO_PURPOSE], None, DEMO_ACTOR,
                               grantees=["any"]).id
