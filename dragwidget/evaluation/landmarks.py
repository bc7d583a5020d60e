"""A small landmark detector for the procedural faces, and the Fréchet distance of its features.

Why: DragGAN is judged by dragging face landmarks of one image to those of another and measuring
where the landmarks end up (see ../shared/notes/draggan.md). On our cartoon faces the ground truth
of *rendered* images is known, but a *generated* image has no ground truth, so a detector trained
on the renderer judges both. Its pooled features also give a Fréchet distance between sets of
images (an FID-like quality check that needs no downloaded Inception network).

Design: a five-level conv net with a small U-shaped decoder predicts one heatmap per landmark at
1/4 resolution (32 x 32 for 128 px); a softmax turns each into a distribution whose mean is the
landmark (soft-argmax: sub-pixel, differentiable) and whose concentration gives a confidence.

Shipped weights (landmark_detector.safetensors beside this file, fp16, 380 KB) were made with

    taskset -c 8,9 python -m dragwidget.evaluation.landmarks train --minutes 4.3 --threads 2 \
        --workers 2 --lr 6e-3

on two otherwise idle cores of a 16-core x86 host (the project's GPU machine; GPU unused): 12,000
faces rendered, then 4.3 minutes of training, about 4.6 minutes in all (the step count was not
logged). Held-out error (`evaluate`: seeds 50,000-50,499 at 128 px): mean 0.367 px, worst
landmarks the pupils (0.59 px), 0.42 px at the mouth corners; on 64-px renders 0.26 px.
The fixed-step recipe (the CLI's defaults)

    python -m dragwidget.evaluation.landmarks train --steps 600 --threads 2 --workers 2

took 9.0 minutes (6.2 minutes of CPU time) on the 2-core development machine while other jobs
loaded it, and reached 0.900 px; an idle 2-core machine should need about 4 minutes.
"""

from __future__ import annotations

import argparse
import math
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from dragwidget.datasets.faces import LANDMARK_NAMES, render_batch

INPUT_SIZE = 128
CONFIDENCE_RADIUS = 8.0  # pixels at 128 px; the heatmaps are trained toward a 4-px Gaussian
WIDTHS = (16, 24, 48, 96)  # channels at 1/2, 1/4, 1/8, 1/16 resolution
WEIGHTS_PATH = Path(__file__).with_name("landmark_detector.safetensors")
# Mirroring a face swaps its left and right landmarks: this permutation says which with which.
_MIRROR = [
    LANDMARK_NAMES.index(n.replace("left", "@").replace("right", "left").replace("@", "right"))
    for n in LANDMARK_NAMES
]


def _conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class LandmarkDetector(nn.Module):
    """Heatmap + soft-argmax landmark detector for [B, 3, 128, 128] images in [-1, 1]."""

    def __init__(
        self, num_landmarks: int = len(LANDMARK_NAMES), widths: tuple[int, ...] = WIDTHS
    ) -> None:
        super().__init__()
        w0, w1, w2, w3 = widths
        self.num_landmarks, self.widths = num_landmarks, tuple(widths)
        self.down4 = nn.Sequential(_conv(3, w0, 2), _conv(w0, w1, 2))  # 1/4
        self.down8 = nn.Sequential(_conv(w1, w2, 2), _conv(w2, w2))  # 1/8
        self.down16 = nn.Sequential(_conv(w2, w3, 2), _conv(w3, w3))  # 1/16: whole-face context
        self.lat16 = nn.Conv2d(w3, w2, 1)
        self.up8 = _conv(w2, w2)
        self.lat8 = nn.Conv2d(w2, w1, 1)
        self.up4 = _conv(w1, w1)
        self.head = nn.Conv2d(w1, num_landmarks, 1)
        self.feature_dim = w3 + w1

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heatmap logits [B, K, h, w], the deepest features and the finest decoder features."""
        f4 = self.down4(images)
        f8 = self.down8(f4)
        f16 = self.down16(f8)
        x = self.up8(f8 + F.interpolate(self.lat16(f16), scale_factor=2.0))
        x = self.up4(f4 + F.interpolate(self.lat8(x), scale_factor=2.0))
        return self.head(x), f16, x

    @staticmethod
    def soft_argmax(logits: torch.Tensor, image_size: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean (x, y) in image pixels (integers at pixel centres), and confidence: the share of
        the heatmap's probability within CONFIDENCE_RADIUS pixels of that mean (about 0.85 for a
        detected landmark, near 0 for a heatmap spread over an image with no face)."""
        b, k, h, w = logits.shape
        prob = logits.flatten(2).softmax(-1).view(b, k, h, w)
        stride = image_size / w
        xs = (torch.arange(w, device=logits.device, dtype=prob.dtype) + 0.5) * stride - 0.5
        ys = (torch.arange(h, device=logits.device, dtype=prob.dtype) + 0.5) * stride - 0.5
        mx = (prob.sum(2) * xs).sum(-1)  # the x marginal's mean
        my = (prob.sum(3) * ys).sum(-1)
        dx2 = (xs - mx[..., None]) ** 2  # [B, K, w]
        dy2 = (ys - my[..., None]) ** 2  # [B, K, h]
        near = (dy2[..., :, None] + dx2[..., None, :]) <= CONFIDENCE_RADIUS**2
        return torch.stack([mx, my], -1), (prob * near).sum((2, 3))

    def _prepare(self, images: torch.Tensor) -> tuple[torch.Tensor, float]:
        images = images.to(next(self.parameters()).device, torch.float32)
        factor = images.shape[-1] / INPUT_SIZE
        if images.shape[-2:] != (INPUT_SIZE, INPUT_SIZE):
            images = F.interpolate(
                images, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", antialias=True
            )
        return images, factor

    @torch.no_grad()
    def detect(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Landmarks [B, K, 2] as (x, y) pixels of the given images, confidence [B, K] in [0, 1].

        Images of another square size are resized to 128 px and the landmarks mapped back.
        """
        x, factor = self._prepare(images)
        logits, _, _ = self(x)
        marks, confidence = self.soft_argmax(logits.float(), INPUT_SIZE)
        return (marks + 0.5) * factor - 0.5, confidence

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        """A [B, D] embedding (pooled deep and decoder features) for a distribution distance."""
        x, _ = self._prepare(images)
        _, deep, fine = self(x)
        return torch.cat([deep.mean((2, 3)), fine.mean((2, 3))], 1)


def frechet_distance(
    feats_a: np.ndarray | torch.Tensor, feats_b: np.ndarray | torch.Tensor
) -> float:
    """Fréchet distance between Gaussians fitted to two [N, D] feature sets (as in FID).

    |mu_a - mu_b|^2 + tr(Sa + Sb - 2 (Sa^1/2 Sb Sa^1/2)^1/2); the trace of the cross term equals
    that of sqrt(Sa Sb), and the symmetric form lets both roots come from eigen-decompositions.
    """
    a = np.asarray(torch.as_tensor(feats_a).detach().cpu(), dtype=np.float64)
    b = np.asarray(torch.as_tensor(feats_b).detach().cpu(), dtype=np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    vals, vecs = np.linalg.eigh(sa)
    root_a = (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T
    cross = np.linalg.eigvalsh(root_a @ sb @ root_a)
    trace_cross = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * trace_cross)


def to_tensor(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 [N, H, W, 3] (NumPy or torch) -> float [N, 3, H, W] in [-1, 1]: detector input."""
    x = images
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(np.ascontiguousarray(x))
    return x.permute(0, 3, 1, 2).float() / 127.5 - 1


def _augment(x: torch.Tensor, marks: torch.Tensor, g: torch.Generator) -> tuple:
    """Mirror, blur or coarsen, add noise: so the detector also reads softer, generated images."""
    b = x.shape[0]
    dev = dict(device=x.device, generator=g)
    flip = torch.rand(b, **dev) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    mirrored = marks[:, _MIRROR].clone()
    mirrored[..., 0] = x.shape[-1] - 1 - mirrored[..., 0]
    marks = torch.where(flip[:, None, None], mirrored, marks)
    soft = torch.rand(b, **dev)
    blurred = F.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    coarse = F.interpolate(F.avg_pool2d(x, 2), scale_factor=2.0, mode="bilinear")
    x = torch.where((soft < 0.2)[:, None, None, None], blurred, x)
    x = torch.where(((soft >= 0.2) & (soft < 0.4))[:, None, None, None], coarse, x)
    noise = torch.rand(b, 1, 1, 1, **dev) * 0.06
    return x + noise * torch.randn(x.shape, **dev), marks


def _render_pool(seeds: range, size: int, workers: int) -> tuple[np.ndarray, np.ndarray]:
    if workers <= 1:
        return render_batch(seeds, size)
    chunks = [seeds[i::workers] for i in range(workers)]
    with ProcessPoolExecutor(workers) as ex:
        parts = list(ex.map(render_batch, chunks, [size] * workers))
    order = np.argsort(np.concatenate([np.asarray(c) for c in chunks]), kind="stable")
    return (
        np.concatenate([p[0] for p in parts])[order],
        np.concatenate([p[1] for p in parts])[order],
    )


def _heatmap_targets(target: torch.Tensor, h: int, sigma: float = 1.0) -> torch.Tensor:
    """A normalised Gaussian (sigma in heatmap cells) at each landmark: [B, K, h*h]."""
    stride = INPUT_SIZE / h
    cells = (torch.arange(h, dtype=target.dtype, device=target.device) + 0.5) * stride - 0.5
    gx = torch.exp(-(((cells - target[..., :1]) / stride) ** 2) / (2 * sigma**2))
    gy = torch.exp(-(((cells - target[..., 1:]) / stride) ** 2) / (2 * sigma**2))
    g = (gy[..., :, None] * gx[..., None, :]).flatten(2)
    return g / g.sum(-1, keepdim=True).clamp_min(1e-12)


def train_detector(
    steps: int = 600,
    batch: int = 32,
    size: int = INPUT_SIZE,
    seed: int = 0,
    device: str | torch.device | None = None,
    pool: int = 12_000,
    minutes: float | None = None,
    lr: float = 6e-3,
    heatmap_weight: float = 0.2,
    widths: tuple[int, ...] = WIDTHS,
    workers: int = 1,
    log_every: int = 100,
) -> LandmarkDetector:
    """Train on procedural faces (seeds from 10^9 on, far from any held-out seed).

    Rendering costs about a third of a training step on a 2-core CPU, so `pool` faces are rendered
    once and reused with mirroring, blur and noise. The loss is the pixel error of the soft-argmax
    plus a cross-entropy toward a Gaussian heatmap, which gives every cell a gradient early on.
    With `minutes`, the learning-rate schedule follows the clock and training stops at the budget.
    """
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(seed)
    g = torch.Generator(device).manual_seed(seed)
    start = time.perf_counter()
    images, marks = _render_pool(
        range(10**9 + seed * pool, 10**9 + (seed + 1) * pool), size, workers
    )
    images = torch.from_numpy(images).to(device)  # the pool lives where the training runs
    marks = torch.from_numpy(marks).to(device) * (INPUT_SIZE / size)
    print(f"rendered {pool} faces in {time.perf_counter() - start:.0f} s", flush=True)
    net = LandmarkDetector(widths=widths).to(device)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    train_start, step = time.perf_counter(), 0
    while True:
        elapsed = time.perf_counter() - train_start
        progress = elapsed / (60 * minutes) if minutes else step / steps
        if progress >= 1:
            break
        for group in opt.param_groups:  # short warm-up, then cosine decay to zero
            group["lr"] = lr * min(1.0, progress / 0.05) * 0.5 * (1 + math.cos(math.pi * progress))
        idx = torch.randint(pool, (batch,), device=device, generator=g)
        x = to_tensor(images[idx])
        x, target = _augment(x, marks[idx], g)
        x = net._prepare(x)[0]
        logits, _, _ = net(x)
        pred, _ = net.soft_argmax(logits, INPUT_SIZE)
        heat = _heatmap_targets(target, logits.shape[-1])
        cross_entropy = -(heat * logits.flatten(2).log_softmax(-1)).sum(-1).mean()
        loss = F.smooth_l1_loss(pred, target, beta=0.5) + heatmap_weight * cross_entropy
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log_every and step % log_every == 0:
            error = (pred - target).norm(dim=-1).mean().item()
            print(f"step {step} loss {loss.item():.3f} train err {error:.2f} px {elapsed:.0f} s")
        step += 1
    net.steps_trained = step
    print(f"{step} steps in {time.perf_counter() - train_start:.0f} s", flush=True)
    return net.eval()


def evaluate(net: LandmarkDetector, seeds: range = range(50_000, 50_500)) -> dict[str, float]:
    """Mean and per-landmark pixel error on held-out faces rendered at 128 px."""
    images, marks = render_batch(seeds, INPUT_SIZE)
    pred, _ = net.detect(to_tensor(images))
    err = (pred.cpu() - torch.from_numpy(marks)).norm(dim=-1)
    out = {"mean_px": err.mean().item(), "median_px": err.median().item()}
    out.update({name: err[:, k].mean().item() for k, name in enumerate(LANDMARK_NAMES)})
    return out


def save_detector(net: LandmarkDetector, path: str | Path = WEIGHTS_PATH, note: str = "") -> None:
    """fp16 weights (half the size, no measurable loss) with the architecture in the metadata."""
    from safetensors.torch import save_file

    state = {
        k: v.detach().cpu().half().contiguous()
        for k, v in net.state_dict().items()
        if v.is_floating_point()
    }
    widths = ",".join(str(w) for w in net.widths)
    meta = {"widths": widths, "landmarks": ",".join(LANDMARK_NAMES)}
    meta["steps_trained"] = str(getattr(net, "steps_trained", "unknown"))
    meta["note"] = note
    save_file(state, str(path), metadata=meta)


def load_detector(path: str | Path = WEIGHTS_PATH, device: str | None = None) -> LandmarkDetector:
    """The shipped detector (or one saved by `save_detector`), in eval mode, float32."""
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k).float() for k in f.keys()}
    if meta.get("landmarks", ",".join(LANDMARK_NAMES)) != ",".join(LANDMARK_NAMES):
        raise ValueError(f"{path} was trained for other landmarks than LANDMARK_NAMES")
    widths = tuple(int(w) for w in meta["widths"].split(",")) if "widths" in meta else WIDTHS
    net = LandmarkDetector(widths=widths)
    net.load_state_dict(state, strict=False)  # BatchNorm's integer step counters are not stored
    missing = set(net.state_dict()) - set(state)
    if any(not k.endswith("num_batches_tracked") for k in missing):
        raise KeyError(f"{path} lacks {sorted(missing)}")
    return net.to(device or "cpu").eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dragwidget.evaluation.landmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    train = sub.add_parser("train", help="train on procedural faces and save fp16 safetensors")
    train.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    train.add_argument("--steps", type=int, default=600)
    train.add_argument("--minutes", type=float, default=None, help="train for this long instead")
    train.add_argument("--batch", type=int, default=32)
    train.add_argument("--pool", type=int, default=12_000)
    train.add_argument("--lr", type=float, default=6e-3)
    train.add_argument("--log-every", type=int, default=100)
    train.add_argument("--heatmap-weight", type=float, default=0.2)
    train.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--workers", type=int, default=1, help="processes rendering the pool")
    train.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    train.add_argument("--device", default=None)
    ev = sub.add_parser("eval", help="held-out pixel error of saved weights")
    ev.add_argument("--weights", type=Path, default=WEIGHTS_PATH)
    args = parser.parse_args(argv)
    if args.command == "train":
        if args.threads:
            torch.set_num_threads(args.threads)
        start = time.perf_counter()
        net = train_detector(
            args.steps, args.batch, seed=args.seed, device=args.device, pool=args.pool,
            minutes=args.minutes, lr=args.lr, heatmap_weight=args.heatmap_weight,
            widths=tuple(int(w) for w in args.widths.split(",")), workers=args.workers,
            log_every=args.log_every,
        )  # fmt: skip
        minutes = (time.perf_counter() - start) / 60
        save_detector(net, args.out)
        result = evaluate(load_detector(args.out))  # measure what ships: the fp16 weights
        print(f"{net.steps_trained} steps, {minutes:.1f} min in all (rendering included); "
              f"held-out mean error {result['mean_px']:.3f} px")  # fmt: skip
        print({k: round(v, 2) for k, v in result.items()})
    else:
        result = evaluate(load_detector(args.weights))
        print({k: round(v, 2) for k, v in result.items()})


if __name__ == "__main__":
    main()
