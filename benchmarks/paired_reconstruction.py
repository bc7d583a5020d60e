"""The DragGAN paper's paired image reconstruction (its Table 2), per drag method.

For each pair: w1 from a seed; w2 = w1 with its first `--layers` layer latents moved
`--strength` of the way toward another seed's (dragwidget.evaluation.paired.nearby_latent).
Point correspondences between image 1 and image 2 (the landmark detector's 20 landmarks on the
faces model; `--correspondences features` for other generators: mutual nearest neighbours of the
generator's feature block) are the drag's handles and targets. Image 1 is dragged; the result is
compared with image 2: MSE (x 1e2, intensities in [0, 1]) and an LPIPS-style distance on the
landmark detector's features (x 10). "no edit" compares image 1 itself with image 2.

    python benchmarks/paired_reconstruction.py --quick
    python benchmarks/paired_reconstruction.py --pairs 20
    python benchmarks/paired_reconstruction.py --generator ffhq.pkl --correspondences features

The paper's figures for scale (MSE x 1e2 / LPIPS x 10, 512 px models, RAFT flow, 32 points):
DragGAN 0.66 / 0.72 on Lion, 0.48 / 0.44 on Dog.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from dragwidget.checkpoints import load_generator
from dragwidget.drag import DragSession
from dragwidget.drag.methods import METHODS
from dragwidget.evaluation.drift import detect_landmarks
from dragwidget.evaluation.landmarks import load_detector
from dragwidget.evaluation.paired import (
    feature_correspondences,
    mse,
    nearby_latent,
    perceptual_distance,
)


def correspondences(G, source: str, detector, session_1, session_2):
    """Handles on image 1 and targets on image 2, [K, 2] each."""
    h, w = session_1.height, session_1.width
    if source == "landmarks":
        handles = detect_landmarks(detector, session_1.image())
        targets = detect_landmarks(detector, session_2.image())
        return np.clip(handles, 0, [w - 1, h - 1]), np.clip(targets, 0, [w - 1, h - 1])
    layer = session_1.resolved_settings().feature_layer
    with torch.no_grad():
        _, f1 = G.synthesis(session_1.latent, feature_layer=layer, with_image=False)
        _, f2 = G.synthesis(session_2.latent, feature_layer=layer, with_image=False)
    return feature_correspondences(f1.float(), f2.float(), (h, w))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 pairs, 100 steps")
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=300, help="max steps per drag (paper: 300)")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--generator", default=None, help="default: the shipped model")
    parser.add_argument("--layers", type=int, default=6, help="layer latents perturbed")
    parser.add_argument("--strength", type=float, default=0.6, help="how far toward another w")
    parser.add_argument("--correspondences", choices=["landmarks", "features"], default="landmarks")
    args = parser.parse_args()
    torch.set_grad_enabled(True)
    pairs, max_steps = (3, 100) if args.quick else (args.pairs, args.steps)
    methods = [m.strip() for m in args.methods.split(",")]
    G, detector = load_generator(args.generator), load_detector()
    rows: dict[str, list[tuple[float, float, int, float]]] = {m: [] for m in ["no edit", *methods]}
    for i in range(pairs):
        session_1 = DragSession(G, seed=2000 + 2 * i)
        other = DragSession(G, seed=2001 + 2 * i).latent
        w2 = nearby_latent(session_1.latent, other, args.layers, args.strength)
        session_2 = DragSession(G, latent=w2)
        image_2 = session_2.image()
        handles, targets = correspondences(G, args.correspondences, detector, session_1, session_2)
        image_1 = session_1.image()
        rows["no edit"].append(
            (mse(image_1, image_2), perceptual_distance(detector, image_1, image_2), 0, 0.0)
        )
        for method in methods:
            session = DragSession(G, latent=session_1.latent, method=method)
            for handle, target in zip(handles, targets, strict=True):
                session.add_point(handle, target)
            start = time.perf_counter()
            result = session.run(max_steps=max_steps)
            seconds = time.perf_counter() - start
            image = session.image()
            row = (mse(image, image_2), perceptual_distance(detector, image, image_2))
            rows[method].append((*row, result.steps, seconds))
            print(
                f"pair {i} {len(handles)} points {method:10} MSE x1e2 {100 * row[0]:.3f} "
                f"(no edit {100 * rows['no edit'][-1][0]:.3f}), perceptual x10 {10 * row[1]:.3f}"
                f", {result.steps} steps, {seconds:.1f} s",
                flush=True,
            )
    print(
        f"\nPaired reconstruction, {pairs} pairs, {args.layers} layers moved {args.strength} "
        f"toward another w, {args.correspondences} as correspondences, at most {max_steps} steps"
    )
    print(f"{'method':12}{'MSE x1e2':>16}{'perceptual x10':>18}{'steps':>8}{'s/drag':>8}")
    for name, values in rows.items():
        mses = [100 * v[0] for v in values]
        percs = [10 * v[1] for v in values]
        spread = len(values) > 1
        cells = [
            f"{statistics.mean(x):.3f}" + (f" ± {statistics.stdev(x):.3f}" if spread else "")
            for x in (mses, percs)
        ]
        tail = (
            ""
            if name == "no edit"
            else (
                f"{statistics.mean(v[2] for v in values):8.0f}"
                f"{statistics.mean(v[3] for v in values):8.1f}"
            )
        )
        print(f"{name:12}{cells[0]:>16}{cells[1]:>18}{tail}")


if __name__ == "__main__":
    main()
