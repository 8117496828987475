"""The official Sonic checkpoint layout and a cheap check of what is present in a models dir.

Only the files our loader reads are listed: the SVD UNet weights are not (Sonic's `unet.pth`
replaces them entirely; only the UNet config is needed), nor is the YOLO face detector (the face
animated is the one the identity module verified). Sizes and sha256 come from research/sonic.md
§2; unknown ones are None and then only presence is checked. A full sha256 pass over 8 GB belongs
to `models download`, not to a status call.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

SVD = "stable-video-diffusion-img2vid-xt"
# Our own file, written only by `models make-tiny`: marks seeded test weights and their sizes.
SONIC_CONFIG = "Sonic/sonic_config.json"


@dataclass(frozen=True)
class ModelFile:
    path: str
    component: str
    size: int | None = None
    sha256: str | None = None
    source: str = ""


@dataclass(frozen=True)
class FileStatus:
    file: ModelFile
    state: str  # "present" | "missing" | "wrong-size"
    found_size: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {"path": self.file.path, "component": self.file.component, "state": self.state,
                "expected_size": self.file.size, "found_size": self.found_size,
                "source": self.file.source}


@dataclass(frozen=True)
class ModelsStatus:
    models_dir: Path
    files: tuple[FileStatus, ...]
    test_weights: bool = False

    @property
    def ready(self) -> bool:
        return all(f.state == "present" for f in self.files)

    @property
    def problems(self) -> tuple[FileStatus, ...]:
        return tuple(f for f in self.files if f.state != "present")

    def summary(self) -> dict[str, object]:
        return {"models_dir": str(self.models_dir), "ready": self.ready,
                "present": len(self.files) - len(self.problems), "expected": len(self.files),
                "test_weights": self.test_weights}

    def to_dict(self) -> dict[str, object]:
        return {**self.summary(), "files": [f.to_dict() for f in self.files]}


_SONIC_REPO = "LeonJoe13/Sonic"
_SVD_REPO = "stabilityai/stable-video-diffusion-img2vid-xt (gated: accept the licence, use an HF token)"
_WHISPER_REPO = "openai/whisper-tiny"

OFFICIAL_LAYOUT: tuple[ModelFile, ...] = (
    ModelFile("Sonic/unet.pth", "unet", 6_303_636_358,
              "2fb0b0b8fe07232f9c4e8af4ce64fc3b33593bf6dfd7c840b60585dc6017128b", _SONIC_REPO),
    ModelFile("Sonic/audio2token.pth", "audio2token", 217_206_084,
              "68cf305813bf5e4682c4f6a80955233cfad6a5e194fd4a6963f27e4e8ee490d8", _SONIC_REPO),
    ModelFile("Sonic/audio2bucket.pth", "audio2bucket", 87_050_998,
              "4af942fded37b70d0a0a7993b8c0f46b5b1e104bcf7b6316f7b509900db69d26", _SONIC_REPO),
    ModelFile("RIFE/flownet.pkl", "rife", 12_186_817,
              "fe854fc8996547c953f732aaa3b78cae76cc0a12833ae856ea0749c4c570d7d8", _SONIC_REPO),
    ModelFile(f"{SVD}/unet/config.json", "unet", source=_SVD_REPO),
    ModelFile(f"{SVD}/scheduler/scheduler_config.json", "scheduler", source=_SVD_REPO),
    ModelFile(f"{SVD}/vae/config.json", "vae", source=_SVD_REPO),
    ModelFile(f"{SVD}/vae/diffusion_pytorch_model.fp16.safetensors", "vae", source=_SVD_REPO),
    ModelFile(f"{SVD}/image_encoder/config.json", "image_encoder", source=_SVD_REPO),
    ModelFile(f"{SVD}/image_encoder/model.fp16.safetensors", "image_encoder", source=_SVD_REPO),
    ModelFile("whisper-tiny/config.json", "whisper", source=_WHISPER_REPO),
    ModelFile("whisper-tiny/preprocessor_config.json", "whisper", source=_WHISPER_REPO),
    ModelFile("whisper-tiny/model.safetensors", "whisper", source=_WHISPER_REPO),
)


def check_models(models_dir: Path, layout: tuple[ModelFile, ...] = OFFICIAL_LAYOUT) -> ModelsStatus:
    """Report each expected file as present, missing or of the wrong size (no hashing).

    A tree of seeded test weights (`models make-tiny`) has other sizes by design; it is reported
    as test weights and its sizes are not compared.
    """
    test_weights = _is_test_tree(models_dir)
    results = []
    for entry in layout:
        target = models_dir / entry.path
        if not target.is_file():
            results.append(FileStatus(entry, "missing"))
            continue
        size = target.stat().st_size
        wrong = entry.size is not None and size != entry.size and not test_weights
        results.append(FileStatus(entry, "wrong-size" if wrong else "present", size))
    return ModelsStatus(models_dir, tuple(results), test_weights)


def _is_test_tree(models_dir: Path) -> bool:
    marker = models_dir / SONIC_CONFIG
    try:
        return bool(json.loads(marker.read_text()).get("test_weights")) if marker.is_file() else False
    except (ValueError, OSError):
        return False
