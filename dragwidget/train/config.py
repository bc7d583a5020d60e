"""Training hyperparameters: one JSON file per model (see configs/)."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class TrainConfig:
    # Keyword arguments of dragwidget.networks.stylegan2.Generator (stored in the exported file).
    generator: dict[str, Any] = field(default_factory=dict)
    # Keyword arguments of Discriminator, less img_resolution and img_channels (taken from G).
    discriminator: dict[str, Any] = field(default_factory=dict)
    batch_size: int = 32
    g_lr: float = 0.0025
    d_lr: float = 0.0025
    betas: tuple[float, float] = (0.0, 0.99)
    d_betas: tuple[float, float] | None = None  # the discriminator's; None: the same as G's
    r1_gamma: float = 0.1
    r1_interval: int = 16  # lazy R1: every this many D steps, weighted by the interval
    ema_kimg: float = 10.0  # G_ema half-life in thousands of images
    ema_rampup: float | None = 0.05  # half-life at most this fraction of the images seen so far
    style_mixing_prob: float = 0.9
    # Paired supervision (faces only): each training face is drawn from a latent z
    # (datasets.faces.params_from_latent), and G(z) is taught to redraw it with a reconstruction
    # loss of this weight, beside the adversarial loss. 0: a pure GAN, z and faces unrelated.
    paired_weight: float = 0.0
    adversarial_weight: float = 1.0  # 0 with paired supervision: no discriminator at all
    # With paired supervision the discriminator may join late, once the reconstruction has the
    # faces' layout: it then only has to sharpen them, and the early steps cost a third as much.
    adversarial_start_kimg: float = 0.0
    # Images of each paired batch that the discriminator judges (0: all). D's passes cost twice
    # G's on the CPU; the reconstruction already teaches every image, D only has to sharpen.
    adversarial_batch: int = 0
    # Progressive growing on the skip generator: [[resolution, start_kimg], ...], the first at 0
    # kimg. G draws its image at the stage's block, D reads it there (fading the new block in over
    # fade_kimg), the reals are box-downsampled. Empty: train at full resolution throughout.
    stages: list[tuple[int, float]] = field(default_factory=list)
    fade_kimg: float = 0.0
    # Per-pixel noise inputs (StyleGAN's stochastic detail) train in the blocks up to this
    # resolution; above it their strengths stay zero. Flat cartoon shading has no fine stochastic
    # detail, and a new top block learns speckle from noise faster than edges. None: all blocks.
    noise_max_resolution: int | None = None
    amp: str = "bf16"  # "bf16" or "off"; CUDA only, the CPU always trains in fp32
    # Keep activations as [N, H, W, C] in memory: on this project's CPU a training step takes
    # about half the CPU time of the default layout. The exported weights are the same.
    channels_last: bool = False
    # Data: images rendered by background workers into a ring buffer, sampled at random.
    pool_size: int = 50_000
    pool_min_fill: int = 2048  # images to wait for before the first step
    # New images rendered into the full pool per image trained on: 0 a fixed pool, inf as fast as
    # the workers can (needs spare cores); true and false in a config mean inf and 0.
    pool_refresh: float = math.inf
    num_workers: int = 12
    render_chunk: int = 32  # images per render call in a worker
    first_seed: int = 1_000_000  # training images use seeds from here on (0.. are for people)
    # Outputs.
    num_sample_seeds: int = 32  # sample grids show seeds 0 .. n-1
    log_every_s: float = 10.0
    snapshot_every_min: float = 2.0
    reserve_s: float = 20.0  # of a --minutes budget, kept for the final checkpoint and export
    seed: int = 0

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known - {"comment"})
        if unknown:
            raise ValueError(f"unknown config keys {unknown}; known: {sorted(known)}")
        data = {k: v for k, v in data.items() if k in known}
        for key in ("betas", "d_betas"):
            if data.get(key) is not None:
                data[key] = tuple(data[key])
        if isinstance(data.get("pool_refresh"), bool):
            data["pool_refresh"] = math.inf if data["pool_refresh"] else 0.0
        if "stages" in data:
            data["stages"] = [(int(r), float(k)) for r, k in data["stages"]]
        config = cls(**data)
        config.check_stages()
        config.check_losses()
        return config

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @property
    def resolution(self) -> int:
        return int(self.generator["img_resolution"])

    def check_losses(self) -> None:
        weights = {
            "paired_weight": self.paired_weight,
            "adversarial_weight": self.adversarial_weight,
        }
        for name, value in weights.items():
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
        if self.paired_weight == 0 and self.adversarial_weight == 0:
            raise ValueError("paired_weight and adversarial_weight are both 0: nothing to train")
        if self.adversarial_batch < 0 or self.adversarial_batch > self.batch_size:
            raise ValueError(
                f"adversarial_batch must be in [0, batch_size {self.batch_size}], "
                f"not {self.adversarial_batch!r}"
            )
        if self.pool_refresh < 0:
            raise ValueError(f"pool_refresh must be >= 0, not {self.pool_refresh!r}")

    def check_stages(self) -> None:
        if not self.stages:
            return
        resolutions = [r for r, _ in self.stages]
        kimgs = [k for _, k in self.stages]
        problems = []
        if kimgs[0] != 0:
            problems.append("the first stage must start at 0 kimg")
        if sorted(set(resolutions)) != resolutions or sorted(kimgs) != kimgs:
            problems.append("resolutions and start kimg must both increase")
        if any(r < 8 or r > self.resolution or r & (r - 1) for r in resolutions):
            problems.append(f"resolutions must be powers of two from 8 to {self.resolution}")
        architecture = self.generator.get("synthesis_kwargs", {}).get("architecture", "skip")
        if architecture != "skip":
            problems.append(f"progressive growing needs the skip generator, not {architecture!r}")
        if problems:
            raise ValueError(f"stages {self.stages}: " + "; ".join(problems))
