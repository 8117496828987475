"""Generate a signed talking-head video and verify it, from Python, through the one service the
UI, the API and the CLI use.

    python examples/generate_and_verify.py --image face.jpg --audio speech.wav \
        --consent con_... --out talking.mp4 [--home DIR] [--models-dir DIR]

The consent must be recorded first (`sonic-ext consent add ...`); the gate refuses anyone else.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sonic_ext import (
    GenerateRequest,
    GenerationParams,
    ProgressEvent,
    Settings,
    SonicService,
)
from sonic_ext.errors import SonicError


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, required=True)
    parser.add_argument("--audio", type=Path, required=True)
    parser.add_argument("--consent", required=True, help="the consent id of the person shown")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--purpose", default="education")
    parser.add_argument("--home", type=Path)
    parser.add_argument("--models-dir", type=Path)
    parser.add_argument("--steps", type=int, default=GenerationParams().steps)
    parser.add_argument("--min-resolution", type=int, default=GenerationParams().min_resolution)
    args = parser.parse_args()

    settings = Settings.from_environment(home=args.home, models_dir=args.models_dir)
    settings.ensure_dirs()
    service = SonicService(settings)

    def progress(event: ProgressEvent) -> None:
        print(f"  {event.stage}: {event.step}/{event.total}", flush=True)

    params = GenerationParams(steps=args.steps, min_resolution=args.min_resolution)
    try:
        result = service.generate(GenerateRequest(args.image, args.audio, args.out, args.purpose,
                                                  params, consent_ids=(args.consent,)),
                                  progress)
        report = service.verify(result.out)
    except SonicError as exc:  # refused, bad input, a pipeline failure: one line says why
        print(f"error [{exc.code}]: {exc}")
        return 1
    print(f"wrote {result.out} (generation {result.generation_id}, watermark "
          f"{result.watermark_id})")
    print(f"verify: {report.verdict}; consent: {report.consent_check['verdict']}")
    return 0 if report.verdict == "authentic" else 1


if __name__ == "__main__":
    raise SystemExit(main())
