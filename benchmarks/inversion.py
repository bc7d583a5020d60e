"""Real pictures: how well, and how fast, projection + pivotal tuning (PTI) redraw them.

    python benchmarks/inversion.py                    # the README figures (20 faces, 2 photos,
                                                      # the --shift 8,0 drag protocol)
    python benchmarks/inversion.py --quick            # 3 faces, photos, no drag protocol
    python benchmarks/inversion.py --losses 8         # which weight-free loss reconstructs best
    python benchmarks/inversion.py --generator big.safetensors --device cuda

What it measures, for the generator given (default: the shipped model):
- Held-out procedural faces (seeds 90000+, never in any training set): PSNR of the reconstruction,
  projection alone beside projection + PTI; the landmark detector's 20 landmarks found on the
  reconstruction against those it finds on the picture itself (mean px).
- Two photos that scikit-image ships (astronaut, the cat Chelsea; `pip install scikit-image`):
  PSNR, and a before/after figure.
- The whole inversion's time (reading the picture to tuned weights), wall-clock and CPU seconds.
- Dragging after inversion: the paper's landmark protocol with known motion (each landmark's target
  is itself moved by --shift px) on the inverted faces, against the same on generated faces.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent))
from landmarks import drag_session_landmarks, summary  # noqa: E402

from dragwidget.checkpoints import load_generator  # noqa: E402
from dragwidget.datasets.faces import render_face  # noqa: E402
from dragwidget.drag import DragSession  # noqa: E402
from dragwidget.drag.losses import PIXEL_LOSSES, reconstruction_loss  # noqa: E402
from dragwidget.drag.pictures import image_to_uint8, psnr  # noqa: E402
from dragwidget.drag.pti import Inversion, InversionResult  # noqa: E402
from dragwidget.evaluation.drift import detect_landmarks as detect  # noqa: E402
from dragwidget.evaluation.landmarks import load_detector  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
FIRST_HELD_OUT_SEED = 90_000


@dataclass
class Inverted:
    picture: np.ndarray
    result: InversionResult
    wall: float
    cpu: float

    def projection_image(self) -> np.ndarray:
        with torch.no_grad():
            return image_to_uint8(self.result.base_generator.synthesis(self.result.latent))


def invert(G, picture, options: dict) -> Inverted:
    wall, cpu = time.perf_counter(), time.process_time()
    result = Inversion(G, picture, **options).run()
    return Inverted(
        result.picture.array(),
        result,
        time.perf_counter() - wall,
        time.process_time() - cpu,
    )


def locality(item: Inverted, seeds: range = range(8)) -> float:
    """Mean PSNR (dB) of the model's own seed images drawn by the tuned copy against the original:
    how much of the rest of the latent space the tuning left alone (inf: untouched)."""
    r = item.result
    values = []
    for seed in seeds:
        latent = DragSession(r.base_generator, seed=seed).latent
        with torch.no_grad():
            values.append(
                psnr(
                    image_to_uint8(r.generator.synthesis(latent)),
                    image_to_uint8(r.base_generator.synthesis(latent)),
                )
            )
    return float(np.mean(values))


def landmark_error(detector, picture: np.ndarray, image: np.ndarray) -> float:
    return float(np.linalg.norm(detect(detector, image) - detect(detector, picture), axis=1).mean())


def mean_sd(values: list[float], digits: int = 2) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def figure(rows: list[list[np.ndarray]], labels: list[str], path: Path, scale: int = 2) -> None:
    """A grid: one row per picture, columns labelled."""
    h, w = rows[0][0].shape[:2]
    h, w = h * scale, w * scale
    band = 16
    sheet = Image.new("RGB", (w * len(labels), band + h * len(rows)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, label in enumerate(labels):
        draw.text((c * w + 4, 2), label, fill="black")
    for r, row in enumerate(rows):
        for c, image in enumerate(row):
            tile = Image.fromarray(image).resize((w, h), Image.NEAREST)
            sheet.paste(tile, (c * w, band + r * h))
    sheet.save(path)
    print(f"wrote {path}")


def faces(G, detector, count: int, options: dict) -> list[Inverted]:
    size = G.img_resolution
    inverted = []
    for i in range(count):
        picture, _ = render_face(FIRST_HELD_OUT_SEED + i, size)
        item = invert(G, picture, options)
        inverted.append(item)
        r = item.result
        print(
            f"face {FIRST_HELD_OUT_SEED + i}: PSNR {r.projection_psnr:5.2f} -> {r.psnr:5.2f} dB, "
            f"landmarks {landmark_error(detector, item.picture, item.projection_image()):4.2f} -> "
            f"{landmark_error(detector, item.picture, r.image()):4.2f} px, "
            f"{item.wall:5.1f} s ({item.cpu:5.1f} s CPU), seed images kept at "
            f"{locality(item):4.1f} dB",
            flush=True,
        )
    projection = [x.result.projection_psnr for x in inverted]
    tuned = [x.result.psnr for x in inverted]
    marks_projection = [landmark_error(detector, x.picture, x.projection_image()) for x in inverted]
    marks_tuned = [landmark_error(detector, x.picture, x.result.image()) for x in inverted]
    print(f"\n{count} held-out procedural faces (mean ± sd), loss: {inverted[0].result.loss_name}")
    print(f"{'':28}{'PSNR dB':>16}{'landmark error px':>20}")
    print(f"{'projection only':28}{mean_sd(projection):>16}{mean_sd(marks_projection):>20}")
    print(f"{'projection + PTI':28}{mean_sd(tuned):>16}{mean_sd(marks_tuned):>20}")
    print(
        "locality: the model's seed images 0-7, tuned copy against original: "
        f"{mean_sd([locality(x) for x in inverted], 1)} dB PSNR"
    )
    print(
        f"whole inversion: {mean_sd([x.wall for x in inverted], 1)} s wall, "
        f"{mean_sd([x.cpu for x in inverted], 1)} s CPU "
        f"({torch.get_num_threads()} threads, {next(G.parameters()).device})"
    )
    return inverted


def photos(G, options: dict, out: Path | None) -> None:
    try:
        from skimage import data
    except ImportError:
        print("photos: skipped (pip install scikit-image, which ships the photos)")
        return
    rows = []
    for name in ("astronaut", "chelsea"):
        item = invert(G, getattr(data, name)(), options)
        r = item.result
        print(
            f"photo {name}: PSNR {r.projection_psnr:5.2f} -> {r.psnr:5.2f} dB, "
            f"{item.wall:.1f} s ({item.cpu:.1f} s CPU)",
            flush=True,
        )
        rows.append([item.picture, item.projection_image(), r.image()])
    if out is not None:
        figure(rows, ["photo (cropped)", "projection", "projection + PTI"], out)


def shift_protocol(G, detector, inverted: list[Inverted], shift, max_steps: int) -> None:
    """The landmark drag with known motion, on inverted faces and on generated ones."""
    k = detector.num_landmarks
    counts = {"1 point": 1, "5 points": 5, f"all {k}": k}
    outcomes: dict[tuple[str, str], list] = {}
    for source in ("generated", "inverted"):
        rng = np.random.default_rng(0)
        for i, item in enumerate(inverted):
            for label, count in counts.items():
                subset = np.sort(rng.choice(k, size=count, replace=False))
                if source == "inverted":
                    session = DragSession.from_inversion(item.result)
                else:
                    session = DragSession(G, seed=1000 + 2 * i)
                h, w = session.height, session.width
                handles = np.clip(detect(detector, session.image()), 0, [w - 1, h - 1])
                targets = handles + np.asarray(shift, dtype=np.float32)
                outcome = drag_session_landmarks(session, detector, targets, subset, max_steps)
                outcomes.setdefault((source, label), []).append(outcome)
                print(
                    f"{source} {i} {label:9} MD {outcome.md_before:5.2f} -> "
                    f"{outcome.md_after:5.2f} px, {outcome.steps} steps",
                    flush=True,
                )
    print(
        f"\n--shift {shift[0]:g},{shift[1]:g}: MD (px), {len(inverted)} faces, <= {max_steps} steps"
    )
    print(f"{'faces':22}" + "".join(f"{label:>16}" for label in counts))
    for source in ("generated", "inverted"):
        cells = [summary([o.md_after for o in outcomes[(source, label)]]) for label in counts]
        print(f"{source:22}" + "".join(f"{c:>16}" for c in cells))
    ratios = [
        statistics.mean(o.md_after for o in outcomes[("inverted", label)])
        / statistics.mean(o.md_after for o in outcomes[("generated", label)])
        for label in counts
    ]
    print(f"{'inverted / generated':22}" + "".join(f"{r:>15.2f}x" for r in ratios))


def compare_losses(G, count: int, options: dict) -> None:
    """PSNR of the whole inversion with each weight-free loss, on the same held-out faces."""
    print(f"\nweight-free losses, {count} held-out faces (PSNR dB, mean ± sd)")
    print(f"{'loss':50}{'projection':>16}{'+ PTI':>16}{'s CPU':>8}")
    for name, loss in PIXEL_LOSSES.items():
        pictures = [render_face(FIRST_HELD_OUT_SEED + i, G.img_resolution)[0] for i in range(count)]
        results = [invert(G, picture, options | {"loss": name}) for picture in pictures]
        projection = mean_sd([x.result.projection_psnr for x in results])
        print(
            f"{name + ': ' + loss.name:50}{projection:>16}"
            f"{mean_sd([x.result.psnr for x in results]):>16}"
            f"{statistics.mean(x.cpu for x in results):8.1f}",
            flush=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", help="a checkpoint to invert into (default: the shipped)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--faces", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="3 faces, no drag protocol")
    parser.add_argument("--shift", default="8,0", help="DX,DY of the drag protocol; '' skips it")
    parser.add_argument("--drag-steps", type=int, default=300)
    parser.add_argument("--losses", type=int, default=0, help="compare the losses on N faces")
    parser.add_argument("--loss", default="auto", help="the inversion loss (default: auto)")
    parser.add_argument("--steps", type=int, help="projection steps (default: Inversion's)")
    parser.add_argument("--tuning-steps", type=int, help="PTI steps (default: Inversion's)")
    parser.add_argument("--tuning-lr", type=float, help="PTI learning rate (default: Inversion's)")
    parser.add_argument("--locality-weight", type=float, help="lambda_R (default: Inversion's)")
    parser.add_argument("--pivot", choices=("w", "w+"), help="pivot space (default: w)")
    parser.add_argument("--figures", action="store_true", help="write the README figures")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(True)
    G = load_generator(args.generator, device=args.device) if args.generator else load_generator()
    G = G.to(args.device)
    options = {"loss": args.loss}
    if args.steps is not None:
        options["steps"] = args.steps
    for name in ("tuning_steps", "tuning_lr", "locality_weight", "pivot"):
        if getattr(args, name) is not None:
            options[name] = getattr(args, name)
    print(
        f"generator: {args.generator or 'the shipped default'} ({G.img_resolution} px, "
        f"{sum(p.numel() for p in G.parameters()) / 1e6:.2f} M parameters); "
        f"loss: {reconstruction_loss(args.loss).name}"
    )
    if args.losses:
        compare_losses(G, args.losses, options)
        return
    detector = load_detector()
    inverted = faces(G, detector, 3 if args.quick else args.faces, options)
    if args.figures:
        rows = [[x.picture, x.projection_image(), x.result.image()] for x in inverted[:4]]
        figure(rows, ["picture", "projection", "projection + PTI"], RESULTS / "inversion_faces.png")
    photos(G, options, RESULTS / "inversion_photos.png" if args.figures else None)
    if args.shift and not args.quick:
        shift = tuple(float(v) for v in args.shift.split(","))
        shift_protocol(G, detector, inverted, shift, args.drag_steps)


if __name__ == "__main__":
    main()
