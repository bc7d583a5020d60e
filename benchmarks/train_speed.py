"""Training throughput at several batch sizes, to pick the batch size of a short GPU run.

    python benchmarks/train_speed.py --device cuda --batch-sizes 32,64,128,256
    python benchmarks/train_speed.py --config dragwidget/train/configs/tiny32.json --device cpu

The default model's first GPU run drew 390 images/s on an H200 (batch 64), low for a 3.8 M
parameter network. A step of eager PyTorch costs a fixed host-side time (thousands of kernel
launches) on top of the arithmetic, which grows with the batch. If ms/step barely grows with the
batch, the run is bound by launches and a larger batch is nearly free images; if it doubles with
the batch, the GPU is busy and the batch size does not matter for images/s. One line per batch
size: ms per step (mean of --steps after --warmup), images/s, and the growth over the smallest.
A progressive config (one with `stages`) is timed at its first, smallest stage.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

DEFAULT_CONFIG = Path(__file__).parent.parent / "dragwidget/train/configs/default128.json"


def step_times(config, device: torch.device, batch_size: int, warmup: int, steps: int) -> float:
    """Mean seconds per training step (R1 off, so that every step is alike)."""
    from dragwidget.train.trainer import Trainer

    config.r1_interval = 10**9  # R1 runs at step 0 only, inside the warm-up
    trainer = Trainer(config, device)
    reals = torch.rand(batch_size, 3, config.resolution, config.resolution, device=device) * 2 - 1

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):  # cudnn autotuning and allocator growth happen here
        trainer.train_step(reals)
    sync()
    start = time.perf_counter()
    for _ in range(steps):
        trainer.train_step(reals)
    sync()
    return (time.perf_counter() - start) / steps


def main(argv: list[str] | None = None) -> list[dict[str, float]]:
    from dragwidget.train.config import TrainConfig

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default=str(DEFAULT_CONFIG))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-sizes", default="32,64,128")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    rows = []
    print(f"{args.config} on {device}")
    print(f"{'batch':>6}{'ms/step':>10}{'img/s':>10}{'ms/step vs smallest':>22}")
    for batch_size in sorted(int(b) for b in args.batch_sizes.split(",")):
        config = TrainConfig.load(args.config)
        config.batch_size = batch_size
        seconds = step_times(config, device, batch_size, args.warmup, args.steps)
        growth = seconds / rows[0]["s_per_step"] if rows else 1.0
        rows.append({"batch": batch_size, "s_per_step": seconds, "img_per_s": batch_size / seconds})
        print(f"{batch_size:6d}{seconds * 1000:10.1f}{batch_size / seconds:10.0f}{growth:21.2f}x")
    return rows


if __name__ == "__main__":
    main()
