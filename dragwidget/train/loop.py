"""A training run: time budget, progress, snapshots, and the final outputs in the run's folder.

Files in `out_dir`:
- log.jsonl: one JSON record per event (start, first step, progress every log_every_s, snapshots,
  end), so that a run that dies still leaves its numbers behind
- reals.png: training images; samples_<kimg>k.png and samples_final.png: G_ema for seeds 0..n-1,
  truncation 1 (top) and 0.7 (bottom)
- checkpoint.pt: everything needed to resume (--resume), rewritten at every snapshot and at the end
- generator.safetensors (config inside): the final G_ema in the shipping format
- training_info.json: command, config, hardware, images seen, times, final losses
"""

from __future__ import annotations

import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dragwidget.networks.stylegan2 import Generator
from dragwidget.train.config import TrainConfig
from dragwidget.train.data import ImagePool, ImageSource, PairedFaces, render_faces
from dragwidget.train.export import export_generator
from dragwidget.train.trainer import Trainer

CHECKPOINT_NAME = "checkpoint.pt"
CHECKPOINT_FORMAT = "dragwidget-train-checkpoint"


def save_checkpoint(trainer: Trainer, path: Path, extra: dict[str, Any]) -> None:
    """Plain state dicts and numbers only, so that torch.load(weights_only=True) reads it."""
    state = {"format": CHECKPOINT_FORMAT, "version": 1, "config": trainer.config.to_dict()}
    state.update(trainer.state_dict())
    state.update(extra)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)  # a run killed mid-write keeps its previous checkpoint


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    state = torch.load(path, map_location="cpu", weights_only=True)
    if state.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a dragwidget training checkpoint")
    return state


def seed_latents(G: Generator, seeds: range) -> torch.Tensor:
    """z for each seed as a person would get it: RandomState(seed).randn(1, z_dim)."""
    z = [np.random.RandomState(s).randn(1, G.z_dim) for s in seeds]
    return torch.from_numpy(np.concatenate(z)).float()


def to_uint8(images: torch.Tensor) -> np.ndarray:
    """[-1, 1] float [N, C, H, W] -> uint8 [N, H, W, C]."""
    images = (images.float().clamp(-1, 1) + 1) * 127.5
    return images.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def grid_image(images: np.ndarray, columns: int = 8) -> Image.Image:
    """uint8 [N, H, W, C] -> one image, `columns` wide."""
    n, h, w, c = images.shape
    rows = math.ceil(n / columns)
    canvas = np.full([rows * h, columns * w, c], 255, dtype=np.uint8)
    for i, image in enumerate(images):
        r, col = divmod(i, columns)
        canvas[r * h : (r + 1) * h, col * w : (col + 1) * w] = image
    return Image.fromarray(canvas)


@torch.no_grad()
def sample_grid(G: Generator, num_seeds: int, columns: int = 8) -> Image.Image:
    """G_ema's images for seeds 0..n-1: truncation 1 above, 0.7 below, a white band between."""
    device = next(G.parameters()).device
    z = seed_latents(G, range(num_seeds)).to(device)
    panels = []
    for psi in (1.0, 0.7):
        images = torch.cat([G(zb, truncation_psi=psi, noise_mode="const") for zb in z.split(64)])
        panels.append(np.asarray(grid_image(to_uint8(images), columns)))
    band = np.full([G.img_resolution // 8, panels[0].shape[1], 3], 255, dtype=np.uint8)
    return Image.fromarray(np.concatenate([panels[0], band, panels[1]]))


def hardware_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU {platform.processor() or platform.machine()} ({os.cpu_count()} cores)"


class RunLog:
    """Appends JSON records to log.jsonl and prints a one-line summary of each."""

    def __init__(self, path: Path, start: float):
        self.path, self.start = path, start

    def __call__(self, event: str, line: str | None = None, **fields: Any) -> None:
        record = {"event": event, "time_s": round(time.monotonic() - self.start, 2), **fields}
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"[{record['time_s']:7.1f}s] {line or event}", flush=True)


def format_duration(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    return f"{seconds // 60}m{seconds % 60:02d}s"


def progress_bar(fraction: float, width: int = 20) -> str:
    filled = int(round(max(0.0, min(fraction, 1.0)) * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def train(
    config: TrainConfig,
    out_dir: str | Path,
    minutes: float | None = None,
    kimg: float | None = None,
    resume: str | Path | None = None,
    device: str | None = None,
    image_source: ImageSource | None = None,
    start_time: float | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Train until `kimg` thousand images or the `minutes` budget (whichever first); returns
    training_info. `start_time` (time.monotonic()) is when the budget began; default: now.
    `image_source` defaults to the procedural faces, paired with their latents when the config
    asks for paired supervision."""
    start = time.monotonic() if start_time is None else start_time
    if minutes is None and kimg is None:
        raise ValueError("give a budget: minutes, kimg or both")
    deadline = start + minutes * 60 - config.reserve_s if minutes is not None else math.inf
    target_images = kimg * 1000 if kimg is not None else math.inf
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    log = RunLog(out_dir / "log.jsonl", start)
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))

    resumed = load_checkpoint(resume) if resume is not None else None
    rendered_before = int(resumed["rendered"]) if resumed else 0
    train_time_before = float(resumed["train_time_s"]) if resumed else 0.0
    # CPU seconds of this process (all its threads; render workers not included): on a shared
    # machine, a truer measure of the work than wall time.
    cpu_time_before = float(resumed.get("cpu_time_s", 0.0)) if resumed else 0.0
    cpu_start = time.process_time()
    if image_source is None:
        paired = config.paired_weight > 0
        image_source = PairedFaces(config.generator["z_dim"]) if paired else render_faces
    # Start the render workers before CUDA is touched: they are forked from this process.
    pool = ImagePool(
        image_source,
        config.resolution,
        config.pool_size,
        num_workers=config.num_workers,
        chunk=config.render_chunk,
        first_seed=config.first_seed + rendered_before,
        seed=config.seed + rendered_before,
        refresh=config.pool_refresh,
    ).start()

    trainer = Trainer(config, device)
    if resumed:
        trainer.load_state_dict(resumed)
        torch.manual_seed(config.seed + trainer.step)
    n_params = {
        "G": sum(p.numel() for p in trainer.G.parameters()),
        "D": sum(p.numel() for p in trainer.D.parameters()),
    }
    log(
        "start",
        f"{hardware_name(device)} | G {n_params['G'] / 1e6:.2f}M D {n_params['D'] / 1e6:.2f}M "
        f"params | batch {config.batch_size} | from {trainer.images_seen / 1000:.1f} kimg",
        device=hardware_name(device),
        params=n_params,
        resumed_from=str(resume) if resume else None,
        images_seen=trainer.images_seen,
        config=config.to_dict(),
    )

    pool.wait(config.pool_min_fill)
    grid_image(pool.first(config.num_sample_seeds).numpy()).save(out_dir / "reals.png")
    log("data_ready", f"{pool.rendered} images rendered ({pool.render_rate():.0f} img/s)")

    def snapshot(name: str) -> None:
        t0 = time.monotonic()
        sample_grid(trainer.G_ema, config.num_sample_seeds).save(out_dir / name)
        rendered = rendered_before + pool.rendered
        extra = {
            "rendered": rendered,
            "train_time_s": train_time_before + train_time,
            "cpu_time_s": cpu_time_before + time.process_time() - cpu_start,
        }
        save_checkpoint(trainer, out_dir / CHECKPOINT_NAME, extra)
        log("snapshot", f"snapshot {name} ({time.monotonic() - t0:.1f}s)", file=name)

    train_start = time.monotonic()
    train_time = 0.0
    last_log = last_snapshot = train_start
    step_s = 0.0  # wall time per step, measured between progress lines
    steps_at_log, images_at_log = trainer.step, trainer.images_seen
    losses: dict[str, float] = {}
    stop_reason = "kimg reached"
    try:
        while trainer.images_seen < target_images:
            if time.monotonic() + step_s > deadline:
                stop_reason = "time budget"
                break
            first = train_time == 0.0
            try:
                trainer.train_step(*pool.sample(config.batch_size, device))
            except RuntimeError as error:
                if not first or config.amp == "off":
                    raise
                # A one-shot GPU run should not die of a mixed-precision problem: go on in fp32.
                log("amp_fallback", f"first step failed under {config.amp}: {error}; now fp32")
                config.amp = "off"
                trainer.train_step(*pool.sample(config.batch_size, device))
            now = time.monotonic()
            train_time = now - train_start
            if first or now - last_log >= config.log_every_s:
                losses = trainer.take_losses()  # waits for the GPU: the times below are true
                now = time.monotonic()
                images = trainer.images_seen - images_at_log
                img_per_s = images / max(now - last_log, 1e-9)
                if not first:  # the first step includes one-off set-up work
                    step_s = (now - last_log) / (trainer.step - steps_at_log)
                kimg_now = trainer.images_seen / 1000
                remaining = min(
                    deadline - now, (target_images - trainer.images_seen) / max(img_per_s, 1e-9)
                )
                if target_images < math.inf:
                    done = trainer.images_seen / target_images
                else:
                    done = (now - start) / max(deadline - start, 1e-9)
                resolution, alpha = trainer.stage()
                fading = f" (fading in, {alpha:.0%})" if alpha < 1 else ""
                line = " | ".join([
                    f"{progress_bar(done)} kimg {kimg_now:.1f}",
                    f"{resolution} px{fading}",
                    f"{1000 / max(img_per_s, 1e-9):.2f} s/kimg ({img_per_s:.0f} img/s)",
                    " ".join(f"{k} {v:.3f}" for k, v in losses.items()),
                    f"rendered {pool.rendered} ({pool.render_rate():.0f}/s)",
                    f"ETA {format_duration(remaining)}",
                ])  # fmt: skip
                log(
                    "first_step" if first else "progress",
                    line,
                    step=trainer.step,
                    kimg=kimg_now,
                    resolution=resolution,
                    img_per_s=img_per_s,
                    cpu_time_s=round(cpu_time_before + time.process_time() - cpu_start, 1),
                    losses=losses,
                    rendered=pool.rendered,
                    render_per_s=pool.render_rate(),
                )
                last_log, steps_at_log, images_at_log = now, trainer.step, trainer.images_seen
            interval_s = config.snapshot_every_min * 60
            due = now - last_snapshot >= interval_s and deadline - now > interval_s / 2
            if first or due:  # right after the first step too: a run that cannot save fails early
                snapshot(f"samples_{trainer.images_seen / 1000:08.1f}k.png")
                if due and not (out_dir / "early").exists():
                    # An early G_ema, to compare against the final one in the quality report.
                    export_generator(trainer.G_ema, out_dir / "early")
                last_snapshot = time.monotonic()
                if first:  # keep the snapshot out of the first throughput figure
                    last_log = last_snapshot
    except BaseException as error:
        stop_reason = f"error: {error!r}"
        raise
    finally:
        # Even a failed or interrupted run leaves a checkpoint and an exported G_ema behind.
        pool.close()
        if trainer.losses:
            losses = trainer.take_losses()
        train_time = time.monotonic() - train_start
        snapshot("samples_final.png")
        export_generator(trainer.G_ema, out_dir)
        info = {
            "command": command or shlex.join([sys.executable, *sys.argv]),
            "config": config.to_dict(),
            "hardware": hardware_name(device),
            "torch": torch.__version__,
            "params": n_params,
            "images_seen": trainer.images_seen,
            "kimg": trainer.images_seen / 1000,
            "steps": trainer.step,
            "images_rendered": rendered_before + pool.rendered,
            "resumed_from": str(resume) if resume else None,
            "train_time_s": round(train_time_before + train_time, 1),
            "cpu_time_s": round(cpu_time_before + time.process_time() - cpu_start, 1),
            "wall_time_s": round(time.monotonic() - start, 1),
            "stop_reason": stop_reason,
            "final_losses": losses,
        }
        (out_dir / "training_info.json").write_text(json.dumps(info, indent=2) + "\n")
        summary = ("kimg", "steps", "train_time_s", "cpu_time_s", "wall_time_s", "stop_reason")
        summary += ("final_losses",)
        took = format_duration(info["wall_time_s"])
        line = f"done: {stop_reason}, {info['kimg']:.1f} kimg in {took}"
        log("end", line, **{k: info[k] for k in summary})
    return info
