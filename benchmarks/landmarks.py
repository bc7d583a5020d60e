"""The DragGAN paper's face-landmark protocol (its Table 1), with handle drift, per drag method.

For each pair of seeds (a, b): detect landmarks on both generated images, drag 1, 5 or all of a's
landmarks to b's, detect again on the result, and report the mean distance (MD, pixels of the
128 px image) of the dragged landmarks to their targets. The detector was trained on the
procedural faces, never on the generator, so it judges independently. During every drag it also
watches each step's image: the tracking error (tracked handle vs detected landmark, median and
90th percentile over all steps) and how often a drag stopped on "arrived" while the detector
disagreed by more than 2 px (dragwidget.evaluation.drift).

    python benchmarks/landmarks.py --quick            # CPU, a few minutes
    python benchmarks/landmarks.py --pairs 15         # each drag method
    python benchmarks/landmarks.py --pairs 15 --variants all  # also w, L2: the README's tables
    python benchmarks/landmarks.py --pairs 15 --shift 8,0   # targets: 8 px right of the handles
    python benchmarks/landmarks.py --generator runs/x/generator.safetensors --variants methods

Also run: model quality (--quality), which prints the detector's held-out error, its confidence
and shift consistency on generated images, and Fréchet distances in its feature space.
"""

from __future__ import annotations

import argparse
import inspect
import json
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dragwidget.checkpoints import load_generator
from dragwidget.drag import DragSession
from dragwidget.drag.methods import METHODS
from dragwidget.evaluation.drift import (
    DetectorWatch,
    DriftRecord,
    detect_landmarks,
    summarize,
)
from dragwidget.evaluation.landmarks import frechet_distance, load_detector, to_tensor

VARIANTS = {name: {"method": name} for name in METHODS}  # w+, L1 tracking: the defaults
VARIANTS.update(
    {
        "draggan w+ / L2": {"method": "draggan", "latent_space": "w+", "tracking": "l2"},
        "draggan w / L1": {"method": "draggan", "latent_space": "w", "tracking": "l1"},
        # what PatchDrag's step size does, apart from its tracking
        "draggan step 5e-3": {"method": "draggan", "step_size": 5e-3},
        "patchdrag step 2e-3": {"method": "patchdrag", "step_size": 2e-3},
    }
)


@dataclass
class DragOutcome:
    md_before: float
    md_after: float
    seconds: float
    steps: int
    converged: bool
    drift: DriftRecord


def detect_in_image(G, detector, seed: int) -> np.ndarray:
    """The detector's landmarks on the image of `seed`, clipped to the image."""
    session = DragSession(G, seed=seed)
    marks = detect_landmarks(detector, session.image())
    return np.clip(marks, 0, [session.width - 1, session.height - 1])


def drag_landmarks(G, detector, seed_a, targets, subset, max_steps, settings) -> DragOutcome:
    """Drag the `subset` of seed_a's detected landmarks to `targets` (all landmarks, [K, 2])."""
    session = DragSession(G, seed=seed_a, **settings)
    return drag_session_landmarks(session, detector, targets, subset, max_steps)


def drag_session_landmarks(session, detector, targets, subset, max_steps) -> DragOutcome:
    """Drag the `subset` of the session image's detected landmarks to `targets`."""
    h, w = session.height, session.width
    handles = np.clip(detect_landmarks(detector, session.image()), 0, [w - 1, h - 1])
    for k in subset:
        session.add_point(handles[k], targets[k])
    md_before = float(np.linalg.norm(handles[subset] - targets[subset], axis=1).mean())
    watch = DetectorWatch(detector, subset)
    start = time.perf_counter()
    result = session.run(max_steps=max_steps, on_step=watch, render=True)
    seconds = time.perf_counter() - start
    found = detect_landmarks(detector, session.image())
    md_after = float(np.linalg.norm(found[subset] - targets[subset], axis=1).mean())
    drift = watch.record(result.converged)
    return DragOutcome(md_before, md_after, seconds, result.steps, result.converged, drift)


def summary(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def run_protocol(
    G,
    pairs: int,
    max_steps: int,
    variants: list[str],
    shift: tuple[float, float] | None = None,
) -> None:
    """The paper's protocol; with `shift`, each target is the first image's own landmark moved
    by (dx, dy) px: a known motion, which needs no variety of layout between two seeds."""
    detector = load_detector()
    num_landmarks = detector.num_landmarks
    counts = {"1 point": 1, "5 points": 5, f"all {num_landmarks}": num_landmarks}
    rng = np.random.default_rng(0)
    results: dict[tuple[str, str], list[DragOutcome]] = {}
    for i in range(pairs):
        seed_a, seed_b = 1000 + 2 * i, 1001 + 2 * i
        if shift is None:
            targets = detect_in_image(G, detector, seed_b)
        else:
            targets = detect_in_image(G, detector, seed_a) + np.asarray(shift, dtype=np.float32)
        for label, count in counts.items():
            subset = np.sort(rng.choice(num_landmarks, size=count, replace=False))
            for name in variants:
                outcome = drag_landmarks(
                    G, detector, seed_a, targets, subset, max_steps, VARIANTS[name]
                )
                results.setdefault((name, label), []).append(outcome)
                errors = outcome.drift.errors
                print(
                    f"pair {i} {label:9} {name:16} MD {outcome.md_before:5.2f} -> "
                    f"{outcome.md_after:5.2f} px, {outcome.steps} steps"
                    f"{' (arrived)' if outcome.converged else ''}, tracking error median "
                    f"{np.median(errors):.2f} final {errors[-1].max():.2f} px, "
                    f"{outcome.seconds:.1f} s",
                    flush=True,
                )
    print(f"\nMD (px of 128 px images; mean ± sd over {pairs} pairs), at most {max_steps} steps")
    print(f"{'method':18}" + "".join(f"{label:>14}" for label in counts) + f"{'s/drag':>8}")
    first = variants[0]
    before = [summary([o.md_before for o in results[(first, label)]]) for label in counts]
    print(f"{'no edit':18}" + "".join(f"{b:>14}" for b in before))
    for name in variants:
        cells = [summary([o.md_after for o in results[(name, label)]]) for label in counts]
        seconds = statistics.mean(o.seconds for label in counts for o in results[(name, label)])
        print(f"{name:18}" + "".join(f"{c:>14}" for c in cells) + f"{seconds:8.1f}")
    print(
        "\nsteps: mean over all drags; to arrive: mean over the drags that arrived. Tracking "
        "error: tracked handle vs detected landmark, every step; false arrived: share of drags "
        "that stopped on 'arrived' while the detector disagreed by > 2 px."
    )
    print(
        f"{'method':18}{'points':>10}{'steps':>7}{'arrived':>9}{'to arrive':>10}"
        f"{'err med':>9}{'err p90':>9}{'false arr':>10}"
    )
    for name in variants:
        for label in [*counts, "all"]:
            outcomes = (
                [o for c in counts for o in results[(name, c)]]
                if label == "all"
                else results[(name, label)]
            )
            arrived = [o.steps for o in outcomes if o.converged]
            drift = summarize([o.drift for o in outcomes])
            to_arrive = f"{statistics.mean(arrived):.0f}" if arrived else "-"
            print(
                f"{name:18}{label:>10}{statistics.mean(o.steps for o in outcomes):7.0f}"
                f"{len(arrived) / len(outcomes):9.0%}{to_arrive:>10}"
                f"{drift.median_px:9.2f}{drift.p90_px:9.2f}{drift.false_arrival_rate:10.0%}"
            )


def landmark_spread(marks: torch.Tensor) -> float:
    """Mean distance of each face's landmarks [N, K, 2] from their mean layout: variety of pose
    and proportion (small when a generator draws every face in one layout)."""
    return float((marks - marks.mean(dim=0)).norm(dim=-1).mean())


def shipped_run() -> str:
    """'41 kimg, 9.8 min' from the training record shipped beside the benchmark results."""
    info_path = Path(__file__).parent / "results" / "training" / "training_info.json"
    if not info_path.exists():
        return "no training record"
    info = json.loads(info_path.read_text())
    return f"{info['kimg']:.0f} kimg, {info['train_time_s'] / 3600:.1f} h"


def generated_images(G, seeds: range, truncation_psi: float) -> np.ndarray:
    return np.stack([DragSession(G, seed=s, truncation_psi=truncation_psi).image() for s in seeds])


def model_quality(samples: int, generator: str | None, early: list[str]) -> None:
    """Detector error on held-out renders; its view of generated images; Fréchet distances;
    the strong-edge measure; the spread of landmarks at truncation 1 and at the session's."""
    from dragwidget.datasets.faces import render_batch
    from dragwidget.evaluation.landmarks import evaluate
    from dragwidget.evaluation.sharpness import edge_strength

    default_psi = inspect.signature(DragSession).parameters["truncation_psi"].default
    detector = load_detector()
    held_out = evaluate(detector)
    print(
        f"detector on 500 held-out procedural faces: mean error {held_out['mean_px']:.2f} px, "
        f"median {held_out['median_px']:.2f} px"
    )
    real, _ = render_batch(range(60_000, 60_000 + samples), 128)
    real_x = to_tensor(real)
    real_feats = detector.features(real_x)
    real_marks, real_conf = detector.detect(real_x)
    real_edges = edge_strength(real)
    real_b, _ = render_batch(range(70_000, 70_000 + samples), 128)
    floor = frechet_distance(real_feats, detector.features(to_tensor(real_b)))
    print(
        f"{samples} images a set; FD, confidence, shift error and edges at truncation 1; "
        f"spread at truncation 1 and at the session's default ({default_psi})"
    )
    header = f"{'model':34}{'FD':>8}{'confidence':>12}{'shift err px':>14}{'edges':>8}"
    print(header + f"{'spread@1 px':>13}{f'spread@{default_psi} px':>15}")
    print(
        f"{'procedural vs procedural (floor)':34}{floor:8.2f}{real_conf.mean():12.3f}{'':>14}"
        f"{1.0:8.2f}{landmark_spread(real_marks):13.2f}"
    )
    shipped = load_generator(generator) if generator else load_generator()
    torch.manual_seed(0)
    untrained = type(shipped)(**shipped.init_kwargs).eval()  # the same model at 0 kimg
    label = generator or f"shipped ({shipped_run()})"
    models = [("untrained (0 kimg)", untrained), (label, shipped)]
    models += [(f"early: {path}", load_generator(path)) for path in early]
    for label, G in models:
        images = generated_images(G, range(samples), 1.0)
        x = to_tensor(images)
        marks, conf = detector.detect(x)
        # Shift consistency: move the image 4 px right; the landmarks should move 4 px too.
        shifted = torch.roll(x, shifts=4, dims=3)
        moved, _ = detector.detect(shifted)
        inner = (marks[..., 0] > 8) & (marks[..., 0] < 116)
        shift_err = (moved - marks - torch.tensor([4.0, 0.0])).norm(dim=-1)[inner].mean()
        fd = frechet_distance(real_feats, detector.features(x))
        edges = edge_strength(images) / real_edges
        truncated, _ = detector.detect(to_tensor(generated_images(G, range(samples), default_psi)))
        print(
            f"{label[:34]:34}{fd:8.2f}{conf.mean():12.3f}{shift_err:14.2f}{edges:8.2f}"
            f"{landmark_spread(marks):13.2f}{landmark_spread(truncated):15.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 pairs, 100 steps: a few minutes")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="max steps per drag (paper: 300)")
    parser.add_argument(
        "--variants",
        default="methods",
        help=f"'methods' (each drag method), 'all', or a comma list of: {', '.join(VARIANTS)}",
    )
    parser.add_argument(
        "--generator", default=None, help="a generator file (default: the shipped model)"
    )
    parser.add_argument("--quality", action="store_true", help="print model-quality figures")
    parser.add_argument("--samples", type=int, default=200, help="images per set for --quality")
    parser.add_argument("--early", nargs="*", default=[], help="earlier checkpoints to compare")
    parser.add_argument(
        "--shift",
        help="DX,DY: targets are the first image's own landmarks moved by this many px",
    )
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    if args.quality:
        model_quality(args.samples, args.generator, args.early)
        return
    pairs, steps = (2, 100) if args.quick else (args.pairs, args.steps)
    if args.variants == "methods":
        variants = list(METHODS)
    elif args.variants == "all":
        variants = list(VARIANTS)
    else:
        variants = [v.strip() for v in args.variants.split(",")]
        unknown = [v for v in variants if v not in VARIANTS]
        if unknown:
            parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    shift = tuple(float(v) for v in args.shift.split(",")) if args.shift else None
    run_protocol(load_generator(args.generator), pairs, steps, variants, shift)


if __name__ == "__main__":
    main()
