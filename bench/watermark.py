"""Watermark v1 (watermark_v1.py) beside v2 (watermark.py) under every attack in video_attacks.

One run measures, for each method on the same clips, IDs and attacked files:
- exact-ID rate per attack (bench/video_attacks.py ATTACKS): marked clips of --clips different
  sources x --ids random IDs (v2: a fresh key per ID), product-encoded (H.264 CRF 18 medium),
  attacked, then detected; "wrong" counts detections of another ID (worse than a miss);
- image cost: PSNR and SSIM (skimage.metrics) of marked against unmarked frames at 512 px;
- embed ms per frame at 512 and 1024 px on ONE core (affinity, OpenCV and BLAS threads = 1);
- detection seconds of a --long-seconds (60) clip on 2 cores: plain, letterboxed to 1080x1920,
  and cropped 10 % + 0.75x + CRF 28;
- false positives: --fp-clips unmarked clips (video_attacks.unmarked_clips), each checked as
  encoded and after each of --fp-attacks; every check is one detect_video call per method.

Prints markdown tables; --json PATH writes everything, per trial.

    .venv/bin/python bench/watermark.py [--clips 3 --ids 3 --seconds 10] [--methods v1,v2]
    .venv/bin/python bench/watermark.py --quick          # a tiny run of every part
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import cv2
import numpy as np
from skimage.metrics import peak_signal_noise_ratio, structural_similarity
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.video_attacks import (
    ATTACKS,
    PLATFORM,
    PRODUCT,
    Encode,
    apply_with_info,
    benchmark_sources,
    iter_motion,
    load_image,
    source_clip,
    unmarked_clips,
    write_mp4,
)

FPS = 25
CHUNK = 25  # frames embedded per call, as the pipeline streams them
QUALITY_FRAMES = 25  # frames per clip compared for PSNR / SSIM
LONG_CLIP_ATTACKS = ("plain", "letterbox-1080x1920", "crop10-crf28-0.75x")
FP_ATTACKS_DEFAULT = ("h264-crf28-veryfast", "scale-0.5x", "aspect-480x640", "crop10-centre",
                      "letterbox-1080x1920", "hflip", "caption", "fps30", "insert-3s")


# ----------------------------------------------------------------------------------------------
# The methods under test


REGISTRY_SIZE = 1000
FP_WINDOW = 8  # frames per in-memory false-positive check


@dataclass
class Method:
    """One watermark implementation behind a common face: new key, embed frames, detect a file."""

    name: str
    describe: str
    new_key: Callable[[], object]
    marker: Callable[[str, object], Callable[[np.ndarray], np.ndarray]]
    # (file, key, the ID it was marked with or None): v2 also gets a registry of REGISTRY_SIZE
    # recorded IDs (decoys plus the true one), as verify does
    detect: Callable[[Path, object, str | None], object]
    # the same on frames in memory (None: the method has no such entry point)
    detect_frames: Callable[[np.ndarray, object], object] | None = None


def load_methods(wanted: Sequence[str]) -> tuple[list[Method], list[str]]:
    """The methods asked for that import here, and notes on any that do not."""
    notes: list[str] = []
    v1_module, v2_module = _import_v1(), _import_v2(notes)
    methods: list[Method] = []
    if "v1" in wanted:
        if v1_module is None:
            notes.append("v1: neither watermark_v1 nor a v1 watermark module imports")
        else:
            methods.append(Method(
                "v1", f"{v1_module.__name__}: {getattr(v1_module, 'METHOD', '?')}",
                new_key=lambda: None,
                marker=lambda wid, key: v1_module.FrameWatermarker(wid).embed,
                detect=lambda path, key, wid: v1_module.detect_video(path)))
    if "v2" in wanted:
        if v2_module is None:
            notes.append("v2: `from sonic_ext.provenance.watermark import WatermarkKey` failed; "
                         "ran v1 only")
        else:
            methods.append(Method(
                "v2", f"{v2_module.__name__}: {getattr(v2_module, 'METHOD', '?')}",
                new_key=v2_module.WatermarkKey.generate,
                marker=lambda wid, key: v2_module.FrameWatermarker(wid, key).embed,
                detect=lambda path, key, wid: v2_module.detect_video(
                    path, key, known_ids=registry_ids(wid)),
                detect_frames=lambda frames, key: v2_module.detect_frames(
                    frames, key, known_ids=registry_ids(None))))
    return methods, notes


def registry_ids(watermark_id: str | None) -> list[str]:
    """What a registry of REGISTRY_SIZE generations would hand the detector."""
    decoys = [f"{value:012x}" for value in
              np.random.default_rng(20261205).integers(0, 2 ** 48, REGISTRY_SIZE - 1)]
    return decoys + ([watermark_id] if watermark_id else [])


def _import_v1() -> ModuleType | None:
    try:
        from sonic_ext.provenance import watermark_v1
    except ImportError:
        return None
    return watermark_v1


def _import_v2(notes: list[str]) -> ModuleType | None:
    try:
        from sonic_ext.provenance import watermark
        from sonic_ext.provenance.watermark import WatermarkKey  # noqa: F401
    except ImportError as exc:
        notes.append(f"v2 import: {exc}")
        return None
    return watermark


def new_id(rng: np.random.Generator) -> str:
    return f"{int(rng.integers(1 << 48)):012x}"


def embed_all(embed: Callable[[np.ndarray], np.ndarray], frames: np.ndarray) -> np.ndarray:
    return np.concatenate([embed(frames[i:i + CHUNK]) for i in range(0, len(frames), CHUNK)])


def transform_text(detection: object) -> str | None:
    """v2 reports the copy's geometry as `transform` (or `geometry`); v1 has neither."""
    found = getattr(detection, "transform", None) or getattr(detection, "geometry", None)
    return found.describe() if found is not None else None


# ----------------------------------------------------------------------------------------------
# CPU limits


@contextlib.contextmanager
def cores(count: int) -> Iterator[None]:
    """Run on `count` CPU cores: affinity, OpenCV threads and BLAS/OpenMP pools."""
    previous_affinity = os.sched_getaffinity(0)
    previous_cv = cv2.getNumThreads()
    os.sched_setaffinity(0, set(sorted(previous_affinity)[:count]))
    cv2.setNumThreads(count)
    try:
        with threadpool_limits(limits=count):
            yield
    finally:
        cv2.setNumThreads(previous_cv)
        os.sched_setaffinity(0, previous_affinity)


# ----------------------------------------------------------------------------------------------
# Robustness


@dataclass
class Trial:
    clip: str
    seed: int
    method: str
    attack: str
    expected_id: str
    found_id: str | None
    present: bool
    confidence: float
    transform: str | None
    segments: list[list[float]]
    expected_segments: list[list[float]]
    expected_geometry: str
    attack_s: float
    detect_s: float
    error: str | None = None

    @property
    def exact(self) -> bool:
        return self.present and self.found_id == self.expected_id

    @property
    def wrong(self) -> bool:
        return self.present and self.found_id != self.expected_id


def attack_and_detect(method: Method, key: object, watermark_id: str, product: Path,
                      attack: str, folder: Path,
                      platform_encode: Encode | None) -> dict[str, object]:
    """Attack the product file, detect in the copy; the fields of a Trial that depend on it."""
    out_path = folder / f"{attack}.mp4"
    started = time.perf_counter()
    try:
        if attack == "plain":
            out_path, segments, geometry = product, [], "none"
        else:
            out = apply_with_info(attack, product, out_path, platform_encode)
            segments = [list(s) for s in out.marked_segments]
            geometry = out.geometry
        attack_s = time.perf_counter() - started
        started = time.perf_counter()
        found = method.detect(out_path, key, watermark_id)
        detect_s = time.perf_counter() - started
    except Exception as exc:  # noqa: BLE001 - a failing attack or detector is a result
        return {"found_id": None, "present": False, "confidence": 0.0, "transform": None,
                "segments": [], "expected_segments": [], "expected_geometry": "",
                "attack_s": time.perf_counter() - started, "detect_s": 0.0,
                "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if out_path != product:
            out_path.unlink(missing_ok=True)
    return {"found_id": getattr(found, "watermark_id", None),
            "present": bool(getattr(found, "present", False)),
            "confidence": float(getattr(found, "confidence", 0.0)),
            "transform": transform_text(found),
            "segments": [[round(a, 2), round(b, 2)] for a, b in getattr(found, "segments", ())],
            "expected_segments": segments, "expected_geometry": geometry,
            "attack_s": attack_s, "detect_s": detect_s}


def quality(original: np.ndarray, marked: np.ndarray) -> dict[str, float]:
    picks = np.linspace(0, len(original) - 1, min(QUALITY_FRAMES, len(original))).astype(int)
    psnr = [peak_signal_noise_ratio(original[i], marked[i], data_range=255) for i in picks]
    ssim = [structural_similarity(original[i], marked[i], channel_axis=2, data_range=255)
            for i in picks]
    return {"psnr_mean": float(np.mean(psnr)), "psnr_min": float(np.min(psnr)),
            "ssim_mean": float(np.mean(ssim)), "ssim_min": float(np.min(ssim))}


def robustness(methods: list[Method], attacks: list[str], args: argparse.Namespace,
               folder: Path, platform_encode: Encode | None,
               ) -> tuple[list[Trial], dict[str, list[dict[str, float]]]]:
    trials: list[Trial] = []
    qualities: dict[str, list[dict[str, float]]] = {m.name: [] for m in methods}
    rng = np.random.default_rng(2024)
    for clip_name, frames in benchmark_sources(args.clips, args.seconds, 512, FPS):
        for seed in range(args.ids):
            watermark_id = new_id(rng)
            for method in methods:
                key = method.new_key()
                marked = embed_all(method.marker(watermark_id, key), frames)
                qualities[method.name].append(quality(frames, marked))
                product = write_mp4(folder / "product.mp4", marked, FPS, PRODUCT.crf,
                                    PRODUCT.preset)
                del marked
                for attack in attacks:
                    fields = attack_and_detect(method, key, watermark_id, product, attack,
                                               folder, platform_encode)
                    trials.append(Trial(clip_name, seed, method.name, attack, watermark_id,
                                        **fields))  # type: ignore[arg-type]
                    _progress(trials[-1])
    return trials, qualities


def _progress(trial: Trial) -> None:
    state = "ok" if trial.exact else ("WRONG" if trial.wrong else "miss")
    print(f"  {trial.clip} #{trial.seed} {trial.method} {trial.attack}: {state} "
          f"({trial.attack_s:.1f} s + {trial.detect_s:.1f} s)"
          + (f" {trial.error}" if trial.error else ""), file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------
# Speed


def embed_ms(method: Method, size: int, repeat: int) -> float:
    """Milliseconds per frame to embed a `size` px frame on one core."""
    frame = source_clip(load_image("astronaut"), 2 / FPS, size, FPS)[:1]
    embed = method.marker("5eed0fc0ffee", method.new_key())
    with cores(1):
        embed(frame)  # warm-up (tables, caches)
        started = time.perf_counter()
        for _ in range(repeat):
            embed(frame)
        return (time.perf_counter() - started) / repeat * 1000


def long_clip(method: Method, key: object, watermark_id: str, seconds: float,
              path: Path) -> Path:
    """A marked `seconds` clip, streamed: generated, embedded and encoded CHUNK frames at a time."""
    embed = method.marker(watermark_id, key)
    source = iter_motion(load_image("obama"), seconds, 512, 512, FPS, "talking")

    def marked() -> Iterator[np.ndarray]:
        while chunk := [frame for _, frame in zip(range(CHUNK), source)]:
            yield from embed(np.stack(chunk))
    return write_mp4(path, marked(), FPS, PRODUCT.crf, PRODUCT.preset)


def detect_long(method: Method, seconds: float, folder: Path,
                platform_encode: Encode | None) -> list[dict[str, object]]:
    key, watermark_id = method.new_key(), "0123456789ab"
    product = long_clip(method, key, watermark_id, seconds, folder / "long.mp4")
    rows = []
    for attack in LONG_CLIP_ATTACKS:
        copy = product
        if attack != "plain":
            copy = apply_with_info(attack, product, folder / f"long-{attack}.mp4",
                                   platform_encode).path
        with cores(2):
            started = time.perf_counter()
            found = method.detect(copy, key, watermark_id)
            elapsed = time.perf_counter() - started
        rows.append({"method": method.name, "attack": attack, "seconds": elapsed,
                     "exact": bool(found.present and found.watermark_id == watermark_id)})
        if copy != product:
            copy.unlink()
    product.unlink()
    return rows


# ----------------------------------------------------------------------------------------------
# False positives


@dataclass
class FalsePositives:
    checks: int = 0
    detections: int = 0
    examples: list[dict[str, object]] = field(default_factory=list)


def false_positives(methods: list[Method], attacks: list[str], args: argparse.Namespace,
                    folder: Path, platform_encode: Encode | None) -> dict[str, FalsePositives]:
    """Every unmarked clip, encoded and then attacked, checked by every method (v2: a fresh key
    per clip, as another installation would have); then, for methods that read frames in
    memory, every FP_WINDOW-frame excerpt of the clip and of its mirror image."""
    counts = {m.name: FalsePositives() for m in methods}
    for name, frames in unmarked_clips(args.fp_clips, args.fp_seconds, 512, FPS):
        product = write_mp4(folder / "unmarked.mp4", frames, FPS, PRODUCT.crf, PRODUCT.preset)
        keys = {m.name: m.new_key() for m in methods}
        for attack in ["plain", *attacks]:
            copy = product if attack == "plain" else apply_with_info(
                attack, product, folder / f"unmarked-{attack}.mp4", platform_encode).path
            for method in methods:
                found = method.detect(copy, keys[method.name], None)
                tally = counts[method.name]
                tally.checks += 1
                if found.present:
                    tally.detections += 1
                    tally.examples.append({"clip": name, "attack": attack,
                                           "id": found.watermark_id,
                                           "confidence": float(found.confidence)})
            if copy != product:
                copy.unlink()
        for method in methods:  # excerpts of the clip and of its mirror image, in memory
            if method.detect_frames is None:
                continue
            for view in (frames, frames[:, :, ::-1]):
                for start in range(0, len(view) - FP_WINDOW + 1, FP_WINDOW):
                    found = method.detect_frames(view[start:start + FP_WINDOW],
                                                 keys[method.name])
                    tally = counts[method.name]
                    tally.checks += 1
                    if found.present:
                        tally.detections += 1
                        tally.examples.append({"clip": name, "attack": f"frames {start}+",
                                               "id": found.watermark_id,
                                               "confidence": float(found.confidence)})
        print(f"  unmarked {name}: " + ", ".join(f"{m} {c.detections}/{c.checks}"
                                                 for m, c in counts.items()),
              file=sys.stderr, flush=True)
    return counts


# ----------------------------------------------------------------------------------------------
# Report


def summarise(trials: list[Trial], methods: list[Method], attacks: list[str],
              ) -> dict[str, dict[str, dict[str, object]]]:
    """Per attack, per method: exact / wrong / n, mean confidence, the most common transform."""
    table: dict[str, dict[str, dict[str, object]]] = {}
    for attack in attacks:
        table[attack] = {}
        for method in methods:
            rows = [t for t in trials if t.attack == attack and t.method == method.name]
            transforms = Counter(t.transform for t in rows if t.exact and t.transform)
            table[attack][method.name] = {
                "n": len(rows), "exact": sum(t.exact for t in rows),
                "wrong": sum(t.wrong for t in rows),
                "errors": sum(t.error is not None for t in rows),
                "confidence": float(np.mean([t.confidence for t in rows if t.exact] or [0.0])),
                "transform": transforms.most_common(1)[0][0] if transforms else None,
                "segments": next((t.segments for t in rows if t.segments), None),
                "expected_segments": next((t.expected_segments for t in rows), None),
                "attack_s": float(np.mean([t.attack_s for t in rows] or [0.0])),
                "detect_s": float(np.mean([t.detect_s for t in rows] or [0.0])),
            }
    return table


def _label(attack: str) -> str:
    return "the product file (CRF 18)" if attack == "plain" else ATTACKS[attack].label


def markdown(results: dict[str, object], methods: list[Method], attacks: list[str]) -> str:
    names = [m.name for m in methods]
    lines = [f"# Watermark benchmark ({', '.join(names)})", ""]
    lines += [f"- {m.name}: {m.describe}" for m in methods]
    lines += [f"- note: {note}" for note in results["notes"]]  # type: ignore[union-attr]
    lines += ["", "## Exact ID per attack", "",
              "| attack | what | " + " | ".join(f"{n} exact (wrong)" for n in names)
              + " | transform / segments found (" + names[-1] + ") | attack s | detect s |",
              "|---|---|" + "---|" * len(names) + "---|---|---|"]
    summary: dict[str, dict[str, dict[str, object]]] = results["summary"]  # type: ignore[assignment]
    for attack in attacks:
        cells = summary[attack]
        last = cells[names[-1]]
        extra = last["transform"] or ""
        if last["expected_segments"] and attack in ("insert-3s", "excerpt-2s"):
            extra += f" segments {last['segments']} (marked {last['expected_segments']})"
        lines.append(
            f"| `{attack}` | {_label(attack)} | "
            + " | ".join(f"{c['exact']}/{c['n']}" + (f" ({c['wrong']})" if c["wrong"] else "")
                         for c in (cells[n] for n in names))
            + f" | {extra.strip()} | {last['attack_s']:.1f} | "
            + " / ".join(f"{cells[n]['detect_s']:.2f}" for n in names) + " |")
    lines += ["", "## Image cost (marked vs unmarked frames, 512 px)", "",
              "| method | PSNR dB mean | PSNR min | SSIM mean | SSIM min |", "|---|---|---|---|---|"]
    for name, q in results["quality"].items():  # type: ignore[union-attr]
        lines.append(f"| {name} | {q['psnr_mean']:.2f} | {q['psnr_min']:.2f} | "
                     f"{q['ssim_mean']:.4f} | {q['ssim_min']:.4f} |")
    lines += ["", "## Embed speed (ms per frame, 1 core)", "", "| method | 512 px | 1024 px |",
              "|---|---|---|"]
    for name, ms in results["embed_ms"].items():  # type: ignore[union-attr]
        lines.append(f"| {name} | {ms['512']:.1f} | {ms['1024']:.1f} |")
    long_rows: list[dict[str, object]] = results["detect_long"]  # type: ignore[assignment]
    if long_rows:
        lines += ["", f"## Detection of a {results['args']['long_seconds']:g} s clip (2 cores)",  # type: ignore[index]
                  "", "| method | copy | seconds | exact ID |", "|---|---|---|---|"]
        lines += [f"| {r['method']} | {_label(str(r['attack']))} | {r['seconds']:.2f} | "
                  f"{'yes' if r['exact'] else 'NO'} |" for r in long_rows]
    fp: dict[str, dict[str, object]] = results["false_positives"]  # type: ignore[assignment]
    if fp:
        lines += ["", "## False positives on unmarked video", "",
                  "| method | checks | false detections | 95 % upper bound per check |",
                  "|---|---|---|---|"]
        for name, tally in fp.items():
            checks, hits = int(tally["checks"]), int(tally["detections"])  # type: ignore[call-overload]
            bound = _upper_bound(hits, checks)
            lines.append(f"| {name} | {checks} | {hits} | {bound:.2e} |")
    return "\n".join(lines)


def _upper_bound(hits: int, checks: int) -> float:
    """One-sided 95 % upper bound on the rate (rule of three at 0, else normal approximation)."""
    if checks == 0:
        return float("nan")
    if hits == 0:
        return 3.0 / checks
    rate = hits / checks
    return rate + 1.645 * (rate * (1 - rate) / checks) ** 0.5


# ----------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--methods", default="v1,v2", help="comma list of v1, v2")
    parser.add_argument("--clips", type=int, default=3, help="different source clips")
    parser.add_argument("--ids", type=int, default=3, help="IDs (and v2 keys) per clip")
    parser.add_argument("--seconds", type=float, default=10.0, help="source clip length")
    parser.add_argument("--attacks", default="all",
                        help="comma list of attack keys (or kinds: codec, crop, ...), or all")
    parser.add_argument("--platform-preset", default=PLATFORM.preset,
                        help="x264 preset of the final CRF 23 encode of non-codec attacks")
    parser.add_argument("--embed-repeat", type=int, default=10)
    parser.add_argument("--long-seconds", type=float, default=60.0)
    parser.add_argument("--fp-clips", type=int, default=200)
    parser.add_argument("--fp-seconds", type=float, default=3.0)
    parser.add_argument("--fp-attacks", default=",".join(FP_ATTACKS_DEFAULT),
                        help="attacks applied to each unmarked clip (or all)")
    parser.add_argument("--skip", default="", help="comma list of: robustness, speed, long, fp")
    parser.add_argument("--quick", action="store_true",
                        help="defaults for a tiny run: 1 clip, 1 ID, 4 s, a 10 s long clip, "
                             "3 unmarked clips, veryfast platform encode (flags still apply)")
    parser.add_argument("--json", type=Path, help="write every number here")
    if parser.parse_known_args(argv)[0].quick:
        parser.set_defaults(clips=1, ids=1, seconds=4.0, long_seconds=10.0, fp_clips=3,
                            embed_repeat=3, platform_preset="veryfast")
    return parser.parse_args(argv)


def select_attacks(spec: str) -> tuple[list[str], list[str]]:
    """Attack keys from a spec (keys or kinds), and notes on those this PyAV cannot run."""
    if spec == "all":
        chosen = list(ATTACKS)
    else:
        chosen = []
        for item in spec.split(","):
            item = item.strip()
            chosen += [item] if item in ATTACKS or item == "plain" else [
                k for k, a in ATTACKS.items() if a.kind == item]
    notes = [f"{k}: skipped, encoder {ATTACKS[k].requires or ATTACKS[k].encode.codec} missing"
             for k in chosen if k != "plain" and not ATTACKS[k].available]
    return [k for k in chosen if k == "plain" or ATTACKS[k].available], notes


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    methods, notes = load_methods(args.methods.split(","))
    if not methods:
        raise SystemExit("no watermark method to measure: " + "; ".join(notes))
    attacks, attack_notes = select_attacks(args.attacks)
    attacks = ["plain", *[a for a in attacks if a != "plain"]]
    fp_attacks, fp_notes = select_attacks(args.fp_attacks)
    notes += attack_notes + fp_notes
    skip = set(filter(None, args.skip.split(",")))
    platform_encode = None if args.platform_preset == PLATFORM.preset else Encode(
        "libx264", PLATFORM.crf, args.platform_preset)
    if platform_encode is not None:
        notes.append(f"final platform encode: H.264 CRF 23 {args.platform_preset} (not medium)")
    results: dict[str, object] = {
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0],
                    "platform": platform.platform()},
        "methods": {m.name: m.describe for m in methods}, "notes": notes,
        "summary": {}, "trials": [], "quality": {}, "embed_ms": {}, "detect_long": [],
        "false_positives": {}}
    with tempfile.TemporaryDirectory(prefix="wm-bench-") as tmp:
        folder = Path(tmp)
        if "speed" not in skip:
            results["embed_ms"] = {m.name: {str(s): embed_ms(m, s, args.embed_repeat)
                                            for s in (512, 1024)} for m in methods}
        if "robustness" not in skip:
            trials, qualities = robustness(methods, attacks, args, folder, platform_encode)
            results["trials"] = [{**asdict(t), "exact": t.exact} for t in trials]
            results["summary"] = summarise(trials, methods, attacks)
            results["quality"] = {name: {k: float(np.mean([q[k] for q in qs])) if "mean" in k
                                         else float(np.min([q[k] for q in qs])) for k in qs[0]}
                                  for name, qs in qualities.items() if qs}
        if "long" not in skip:
            results["detect_long"] = [row for m in methods for row in
                                      detect_long(m, args.long_seconds, folder, platform_encode)]
        if "fp" not in skip:
            results["false_positives"] = {
                name: asdict(tally) for name, tally in
                false_positives(methods, fp_attacks, args, folder, platform_encode).items()}
    if "robustness" in skip:
        attacks = []
    print(markdown(results, methods, attacks))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
