"""The DragGAN paper's face-landmark protocol (its Table 1) on our default model.

For each pair of seeds (a, b): detect landmarks on both generated images, drag 1, 5 or all of a's
landmarks to b's, detect again on the result, and report the mean distance (MD, pixels of the
128 px image) of the dragged landmarks to their targets. The detector was trained on the
procedural faces, never on the generator, so it judges independently.

    python benchmarks/landmarks.py --quick            # CPU, a few minutes
    python benchmarks/landmarks.py --pairs 15         # the figures in the README
    python benchmarks/landmarks.py --pairs 15 --shift 8,0   # targets: 8 px right of the handles

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
from dragwidget.evaluation.landmarks import frechet_distance, load_detector, to_tensor

VARIANTS = {
    "w+ / L1 (default)": {"latent_space": "w+", "tracking": "l1"},
    "w+ / L2": {"latent_space": "w+", "tracking": "l2"},
    "w / L1": {"latent_space": "w", "tracking": "l1"},
}


@dataclass
class DragOutcome:
    md_before: float
    md_after: float
    seconds: float
    steps: int


def detect(detector, image: np.ndarray) -> np.ndarray:
    marks, _ = detector.detect(to_tensor(image[None]))
    return marks[0].numpy()


def detect_in_image(G, detector, seed: int) -> np.ndarray:
    """The detector's landmarks on the image of `seed`, clipped to the image."""
    session = DragSession(G, seed=seed)
    marks = detect(detector, session.image())
    return np.clip(marks, 0, [session.width - 1, session.height - 1])


def drag_landmarks(G, detector, seed_a, targets, subset, max_steps, settings) -> DragOutcome:
    """Drag the `subset` of seed_a's detected landmarks to `targets` (all landmarks, [K, 2])."""
    session = DragSession(G, seed=seed_a, **settings)
    return drag_session_landmarks(session, detector, targets, subset, max_steps)


def drag_session_landmarks(session, detector, targets, subset, max_steps) -> DragOutcome:
    """Drag the `subset` of the session image's detected landmarks to `targets`."""
    h, w = session.height, session.width
    handles = np.clip(detect(detector, session.image()), 0, [w - 1, h - 1])
    for k in subset:
        session.add_point(handles[k], targets[k])
    md_before = float(np.linalg.norm(handles[subset] - targets[subset], axis=1).mean())
    start = time.perf_counter()
    result = session.run(max_steps=max_steps)
    seconds = time.perf_counter() - start
    found = detect(detector, session.image())
    md_after = float(np.linalg.norm(found[subset] - targets[subset], axis=1).mean())
    return DragOutcome(md_before, md_after, seconds, result.steps)


def summary(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def run_protocol(
    pairs: int,
    max_steps: int,
    variants: list[str],
    shift: tuple[float, float] | None = None,
    generator: str | None = None,
) -> None:
    """The paper's protocol; with `shift`, each target is the first image's own landmark moved
    by (dx, dy) px: a known motion, which needs no variety of layout between two seeds."""
    G = load_generator(generator) if generator else load_generator()
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
                print(
                    f"pair {i} {label:9} {name:18} MD {outcome.md_before:5.2f} -> "
                    f"{outcome.md_after:5.2f} px, {outcome.steps} steps, {outcome.seconds:.1f} s",
                    flush=True,
                )
    print(f"\nMD (px of 128 px images; mean ± sd over {pairs} pairs), at most {max_steps} steps")
    print(
        f"{'method':22}"
        + "".join(f"{label:>16}" for label in counts)
        + f"{'s/drag':>10}{'steps':>8}"
    )
    first = variants[0]
    before = [summary([o.md_before for o in results[(first, label)]]) for label in counts]
    print(f"{'no edit':22}" + "".join(f"{b:>16}" for b in before))
    for name in variants:
        cells = [summary([o.md_after for o in results[(name, label)]]) for label in counts]
        outcomes = [o for label in counts for o in results[(name, label)]]
        seconds = statistics.mean(o.seconds for o in outcomes)
        steps = statistics.mean(o.steps for o in outcomes)
        print(f"{name:22}" + "".join(f"{c:>16}" for c in cells) + f"{seconds:10.1f}{steps:8.0f}")


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
    parser.add_argument("--variants", default="all", help="'all' or 'default'")
    parser.add_argument("--quality", action="store_true", help="print model-quality figures")
    parser.add_argument("--samples", type=int, default=200, help="images per set for --quality")
    parser.add_argument("--early", nargs="*", default=[], help="earlier checkpoints to compare")
    parser.add_argument("--generator", help="a generator file (default: the shipped model)")
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
    variants = list(VARIANTS) if args.variants == "all" else [next(iter(VARIANTS))]
    shift = tuple(float(v) for v in args.shift.split(",")) if args.shift else None
    run_protocol(pairs, steps, variants, shift, args.generator)


if __name__ == "__main__":
    main()
