"""How long the consent gate takes: per portrait on CPU, and matching at 100k / 1M references.

1. Gate latency: a scratch registry with obama.jpg enrolled; each test portrait is checked with
   detection uncached (face detection + embedding, then the decision transaction: reference
   matching, consent lookup, audit append). Then one ordinary check while three other users'
   8000x8000 portraits are checked, with and without the cap on scanned pixels.
2. Matching: synthetic unit embeddings (128-d as dlib, 512-d as ArcFace) in the gate's reference
   matrix, against a brute-force per-row Python loop measured in the same run.

    .venv/bin/python bench/gate.py [--repeat 5] [--sizes 100000,1000000] [--dims 128,512]
                                   [--models-dir DIR]   # with insightface/buffalo_l: both backends
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from sonic_ext import Settings
from sonic_ext.consent import ConsentGate, ConsentRegistry, GateRefused
from sonic_ext.consent.references import ReferenceIndex
from sonic_ext.identity import FaceBackends, load_portrait
from sonic_ext.identity import faces as faces_module
from sonic_ext.policy import load_policy

FACES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "faces"
REFS_PER_SUBJECT = 5


def median_ms(action: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def gate_latency(repeat: int, models_dir: Path | None) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        home = Path(scratch)
        policy_file = home / "policy.toml"
        policy_file.write_text('[identity.thresholds]\n'
                               '"dlib/face_recognition_resnet_model_v1" = 0.93\n')
        settings = Settings.from_environment({"HOME": scratch}, home=home / "home",
                                             models_dir=models_dir or home / "models")
        backends = FaceBackends(settings.models_dir, cache_size=0)
        registry = ConsentRegistry.open(settings, load_policy(policy_file), backends=backends)
        evidence = FACES.parent / "consent" / "example-release.pdf"  # evidence is a document
        consent = registry.add_consent("Barack Obama", [FACES / "obama.jpg"], evidence,
                                       ["bench"], None, "bench", grantees=["any"])
        gate = ConsentGate(registry)
        print(f"gate latency, backend {gate.backend.model_id}, median of {repeat}, CPU")
        print(f"{'portrait':<22} {'size':>10} {'faces':>5} {'detect+embed ms':>16} "
              f"{'whole check ms':>15}  decision")
        for path in sorted(FACES.glob("*.jpg")):
            print(portrait_latency(gate, path, registry.min_face_px, repeat, consent.id))
        contention(gate, home, consent.id)
        registry.database.dispose()


def contention(gate: ConsentGate, scratch: Path, consent_id: str, uploads: int = 3) -> None:
    """One user's ordinary check while others' 8000x8000 portraits are being checked (the
    detector is serialised per backend): with large portraits scanned at most MAX_SCAN_PIXELS,
    and with that cap lifted (how 0.1.0 scanned: every portrait enlarged 1.56x)."""
    with Image.open(FACES / "obama.jpg") as img:
        big = img.convert("RGB").resize((8000, 8000))
    huge = []
    for i in range(uploads):
        path = scratch / f"huge-{i}.jpg"
        Image.fromarray(np.asarray(big) ^ np.uint8(i)).save(path, quality=90)  # distinct bytes
        huge.append(path)
    ordinary = FACES / "obama.jpg"

    def check(path: Path) -> float:
        start = time.perf_counter()
        try:
            gate.check(path, "bench", "bench", [consent_id])
        except GateRefused:
            pass
        return time.perf_counter() - start

    print(f"\none ordinary check while {uploads} users check 8000x8000 portraits")
    print(f"{'scan':<26} {'alone s':>8} {'contended s':>12} {'ratio':>6} {'each large s':>13}")
    capped = faces_module.MAX_SCAN_PIXELS
    for label, cap in ((f"capped at {capped / 1e6:.0f} MP", capped), ("uncapped (0.1.0)", 10**12)):
        faces_module.MAX_SCAN_PIXELS = cap
        alone = check(ordinary)
        with ThreadPoolExecutor(uploads) as pool:
            large = [pool.submit(check, path) for path in huge]
            time.sleep(0.5)  # the large checks are decoding or scanning by now
            contended = check(ordinary)
            each = max(job.result() for job in large)
        print(f"{label:<26} {alone:>8.2f} {contended:>12.2f} {contended / alone:>5.1f}x "
              f"{each:>13.2f}")
    faces_module.MAX_SCAN_PIXELS = capped


def portrait_latency(gate: ConsentGate, path: Path, min_face: int, repeat: int,
                     consent_id: str) -> str:
    portrait = load_portrait(path)
    detect = median_ms(lambda: gate.backend.faces(portrait, min_face), repeat)
    outcome: list[str] = []

    def check() -> None:
        try:
            gate.check(path, "bench", "bench", [consent_id])
            outcome.append("pass")
        except GateRefused as refused:
            outcome.append(f"refused ({refused.rule})")

    total = median_ms(check, repeat)
    width, height = portrait.size
    faces = len(gate.backend.faces(portrait, min_face))
    return (f"{path.name:<22} {f'{width}x{height}':>10} {faces:>5} {detect:>16.0f} "
            f"{total:>15.0f}  {outcome[-1]}")


def per_row_best(rows: np.ndarray, query: np.ndarray) -> tuple[int, float]:
    """The baseline: one dot product per enrolled reference, in a Python loop."""
    best_row, best = -1, -2.0
    for i, row in enumerate(rows):
        similarity = float(row @ query)
        if similarity > best:
            best_row, best = i, similarity
    return best_row, best


def matching(sizes: list[int], dims: list[int], repeat: int) -> None:
    rng = np.random.default_rng(0)
    print(f"\nmatching one face, median of {repeat} (baseline: 1 run)")
    print(f"{'refs':>9} {'dim':>4} {'matrix MB':>10} {'gate matrix ms':>15} "
          f"{'per-row Python ms':>18} {'speed-up':>9}")
    for dim in dims:
        for size in sizes:
            print(matching_row(rng, size, dim, repeat))


def matching_row(rng: np.random.Generator, size: int, dim: int, repeat: int) -> str:
    rows = rng.standard_normal((size, dim), dtype=np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    index = ReferenceIndex(f"synthetic/{dim}")
    index.extend(np.arange(1, size + 1),
                 [f"sub_{i // REFS_PER_SUBJECT}" for i in range(size)], rows)
    del rows
    matrix = index.snapshot()
    # A query that really is enrolled (a noisy copy of one reference), so the answer is known.
    target = size // 3
    query = matrix.rows[target] + rng.standard_normal(dim, dtype=np.float32) * 0.02
    query /= np.linalg.norm(query)
    fast = median_ms(lambda: matrix.best(query), repeat)
    found = matrix.best(query)
    start = time.perf_counter()
    row, _ = per_row_best(matrix.rows, query)
    slow = (time.perf_counter() - start) * 1e3
    if row != target or found is None or found.subject_id != f"sub_{target // REFS_PER_SUBJECT}":
        raise SystemExit(f"wrong match at {size} x {dim}: {row}, {found}")
    return (f"{size:>9,} {dim:>4} {matrix.rows.nbytes / 2**20:>10.0f} {fast:>15.1f} "
            f"{slow:>18.0f} {slow / fast:>8.0f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--dims", default="128,512")
    parser.add_argument("--models-dir", type=Path, default=None,
                        help="models folder; with insightface/buffalo_l the gate uses it")
    args = parser.parse_args()
    gate_latency(args.repeat, args.models_dir)
    matching([int(s) for s in args.sizes.split(",")], [int(d) for d in args.dims.split(",")],
             args.repeat)


if __name__ == "__main__":
    main()
