"""G, D, G_ema and their optimizers; one training step; the state a checkpoint holds.

The losses are StyleGAN2's: the non-saturating logistic loss for both networks, and R1 (the squared
gradient norm of D on real images) applied lazily, every `r1_interval` D steps with its weight
multiplied by the interval, so that it costs a sixteenth and still weighs the same. Path-length
regularisation is left out: it buys smoother latent interpolation for a third more G work, and our
budget is minutes. Style mixing (two latents, switched at a random layer) is kept: it is cheap.

With `stages` the networks grow (Karras et al. 2018): a skip generator's image is the sum of every
block's ToRGB, upsampled, so G stopped after block r draws an r-pixel image. The ToRGBs above the
first stage start at zero: a block added later begins by adding nothing, and its detail grows in
while the image it refines stays. Low resolutions cost a fraction of a full step, which is what
lets a CPU learn a face's layout in minutes.
"""

from __future__ import annotations

import contextlib
import copy
import random
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from dragwidget.networks.stylegan2 import Generator
from dragwidget.train.config import TrainConfig
from dragwidget.train.discriminator import Discriminator


def generator_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Non-saturating: -log sigmoid(D(G(z)))."""
    return F.softplus(-fake_logits).mean()


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Logistic: -log sigmoid(D(x)) - log(1 - sigmoid(D(G(z))))."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def paired_loss(fakes: torch.Tensor, reals: torch.Tensor) -> torch.Tensor:
    """Reconstruction loss of paired supervision: L1 over an image pyramid (every octave down to
    8 px, each weighted alike, so that layout errors are not drowned by pixel noise) plus L1 of
    the horizontal and vertical pixel differences (edges: a blurred edge pays for its width)."""
    fakes, reals = fakes.float(), reals.float()
    loss = (fakes[..., 1:, :] - fakes[..., :-1, :] - reals[..., 1:, :] + reals[..., :-1, :]).abs()
    loss = loss.mean()
    loss = loss + (fakes[..., 1:] - fakes[..., :-1] - reals[..., 1:] + reals[..., :-1]).abs().mean()
    while True:
        loss = loss + (fakes - reals).abs().mean()
        if fakes.shape[-1] <= 8:
            return loss
        fakes, reals = F.avg_pool2d(fakes, 2), F.avg_pool2d(reals, 2)


def r1_penalty(D: Callable[[torch.Tensor], torch.Tensor], reals: torch.Tensor) -> torch.Tensor:
    """Per-image squared norm of dD(x)/dx on real images, [N]; differentiable w.r.t. D."""
    reals = reals.detach().requires_grad_(True)
    logits = D(reals)
    (grad,) = torch.autograd.grad(logits.float().sum(), reals, create_graph=True)
    return grad.float().square().sum(dim=[1, 2, 3])


class Trainer:
    """Everything that changes during training, and one step of it."""

    def __init__(self, config: TrainConfig, device: torch.device | str = "cpu"):
        self.config = config
        self.device = torch.device(device)
        if self.device.type == "cuda":  # fixed shapes: let cuDNN pick its fastest kernels
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
            torch.backends.cudnn.benchmark = True
        torch.manual_seed(config.seed)
        self.rng = random.Random(config.seed)  # style-mixing draws, without a GPU sync
        self.G = Generator(**config.generator).to(self.device)
        self.D = Discriminator(
            img_resolution=self.G.img_resolution,
            img_channels=self.G.img_channels,
            progressive=bool(config.stages),
            **config.discriminator,
        ).to(self.device)
        if config.stages:
            with torch.no_grad():
                for res in self.G.synthesis.block_resolutions:
                    if res > config.stages[0][0]:
                        getattr(self.G.synthesis, f"b{res}").torgb.weight.zero_()
        if config.channels_last:
            self.G.to(memory_format=torch.channels_last)
            self.D.to(memory_format=torch.channels_last)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        g_params = [p for name, p in self.G.named_parameters() if self._trains(name)]
        self.g_opt = torch.optim.Adam(g_params, lr=config.g_lr, betas=config.betas)
        # Lazy R1 adds one D step per r1_interval: shrink lr and betas to keep Adam's time scale.
        c = config.r1_interval / (config.r1_interval + 1)
        d_betas = config.d_betas or config.betas
        betas = (d_betas[0] ** c, d_betas[1] ** c)
        self.d_opt = torch.optim.Adam(self.D.parameters(), lr=config.d_lr * c, betas=betas)
        self.step = 0  # finished steps (one G and one D minibatch each)
        self.images_seen = 0  # real images shown to D
        self.losses: dict[str, torch.Tensor] = {}  # sums since the last take_losses(), on device
        self.loss_counts: dict[str, int] = {}

    def _trains(self, name: str) -> bool:
        """False for the noise strengths above noise_max_resolution: those stay zero."""
        limit = self.config.noise_max_resolution
        if limit is None or not name.endswith("noise_strength"):
            return True
        return int(name.split(".")[1].removeprefix("b")) <= limit  # synthesis.b64.conv0...

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.device.type == "cuda" and self.config.amp == "bf16":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        if self.config.amp not in ("bf16", "off"):
            raise ValueError(f"amp must be 'bf16' or 'off', not {self.config.amp!r}")
        return contextlib.nullcontext()

    def stage(self) -> tuple[int, float]:
        """(resolution, alpha) for the images seen so far; alpha fades the newest block in."""
        if not self.config.stages:
            return self.G.img_resolution, 1.0
        kimg = self.images_seen / 1000
        resolution, start = next((r, k) for r, k in reversed(self.config.stages) if kimg >= k)
        if start == 0 or self.config.fade_kimg <= 0:
            return resolution, 1.0
        return resolution, min(1.0, (kimg - start) / self.config.fade_kimg)

    def synthesize(self, ws: torch.Tensor, resolution: int) -> torch.Tensor:
        """G's image at `resolution`: the synthesis blocks up to that one (noise_mode 'random')."""
        synthesis = self.G.synthesis
        x = img = None
        for res, block_ws in zip(synthesis.block_resolutions, synthesis.block_ws(ws), strict=True):
            if res > resolution:
                break
            x, img = getattr(synthesis, f"b{res}")(x, img, block_ws, noise_mode="random")
        return img

    def generate(
        self, batch_size: int, update_emas: bool = False, resolution: int | None = None
    ) -> torch.Tensor:
        """Images of G for fresh latents, with style mixing, noise_mode 'random'."""
        z = torch.randn(batch_size, self.G.z_dim, device=self.device)
        with torch.autocast(self.device.type, enabled=False):  # mapping is tiny: keep it fp32
            ws = self.G.mapping(z, update_emas=update_emas)
            if self.rng.random() < self.config.style_mixing_prob:
                cutoff = self.rng.randrange(1, self.G.num_ws)
                ws2 = self.G.mapping(torch.randn_like(z))
                ws = torch.cat([ws[:, :cutoff], ws2[:, cutoff:]], dim=1)
        return self.synthesize(ws, resolution or self.G.img_resolution)

    def train_step(self, reals: torch.Tensor, latents: torch.Tensor | None = None) -> None:
        """One G step, one D step, every r1_interval-th step an R1 step, then the EMA.

        `reals` are full-resolution; a progressive stage box-downsamples them to its own. With
        paired supervision `latents` are the z each real was drawn from: G(z) learns to redraw
        it, and D sees those same fakes.
        """
        batch_size = reals.shape[0]
        cfg = self.config
        resolution, alpha = self.stage()
        if reals.shape[-1] != resolution:
            reals = F.avg_pool2d(reals, reals.shape[-1] // resolution)
        if cfg.channels_last:
            reals = reals.contiguous(memory_format=torch.channels_last)
        paired = cfg.paired_weight > 0
        adversarial = cfg.adversarial_weight > 0 and (
            not paired or self.images_seen >= cfg.adversarial_start_kimg * 1000
        )
        if paired and latents is None:
            raise ValueError("paired supervision needs the latent of every real image")

        def D(images: torch.Tensor) -> torch.Tensor:
            return self.D(images, alpha)

        self.G.requires_grad_(True)
        self.D.requires_grad_(False)
        with self.autocast():
            if paired:
                with torch.autocast(self.device.type, enabled=False):
                    ws = self.G.mapping(latents, update_emas=True)
                fakes = self.synthesize(ws, resolution)
                reconstruction = paired_loss(fakes, reals)
                g_loss = cfg.paired_weight * reconstruction
                self._record("rec", reconstruction)
                judged = cfg.adversarial_batch or batch_size
                if adversarial:
                    g_loss = g_loss + cfg.adversarial_weight * generator_loss(D(fakes[:judged]))
            else:
                g_loss = generator_loss(D(self.generate(batch_size, resolution=resolution)))
        self._optimize(self.g_opt, self.G, g_loss)
        self._record("G", g_loss)
        if adversarial and paired:
            self._discriminator_step(reals[:judged], fakes[:judged].detach(), D)
        elif adversarial:
            self._discriminator_step(reals, None, D)
        self.images_seen += batch_size
        self.step += 1
        self.update_ema(batch_size)

    def _discriminator_step(
        self,
        reals: torch.Tensor,
        fakes: torch.Tensor | None,
        D: Callable[[torch.Tensor], torch.Tensor],
    ) -> None:
        """One D step on reals against `fakes` (None: fresh ones), and R1 when it is due."""
        cfg = self.config
        self.G.requires_grad_(False)
        self.D.requires_grad_(True)
        with self.autocast():
            if fakes is None:
                with torch.no_grad():
                    fakes = self.generate(
                        reals.shape[0], update_emas=True, resolution=reals.shape[-1]
                    )
            # Two passes, not one on the concatenation: the minibatch-std groups must not mix.
            real_logits, fake_logits = D(reals).float(), D(fakes).float()
            d_loss = discriminator_loss(real_logits, fake_logits)
        self._optimize(self.d_opt, self.D, d_loss)
        self._record("D", d_loss)
        self._record("D_real", real_logits.mean())
        self._record("D_fake", fake_logits.mean())

        if cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0:
            with self.autocast():
                penalty = r1_penalty(D, reals)
            self._optimize(
                self.d_opt, self.D, penalty.mean() * (cfg.r1_gamma / 2 * cfg.r1_interval)
            )
            self._record("R1", penalty.mean())

    def _optimize(self, opt: torch.optim.Optimizer, net: torch.nn.Module, loss: torch.Tensor):
        opt.zero_grad(set_to_none=True)
        loss.backward()
        for p in net.parameters():
            if p.grad is not None:  # one bad batch must not poison the weights
                torch.nan_to_num_(p.grad, nan=0.0, posinf=1e5, neginf=-1e5)
        opt.step()

    def _record(self, name: str, value: torch.Tensor) -> None:
        value = value.detach().float()
        self.losses[name] = self.losses[name] + value if name in self.losses else value
        self.loss_counts[name] = self.loss_counts.get(name, 0) + 1

    def take_losses(self) -> dict[str, float]:
        """Mean of each loss since the last call (synchronises with the GPU)."""
        means = {k: float(v) / self.loss_counts[k] for k, v in self.losses.items()}
        self.losses, self.loss_counts = {}, {}
        return means

    @torch.no_grad()
    def update_ema(self, batch_size: int) -> None:
        """G_ema <- lerp(G_ema, G, 1 - beta), the half-life ema_kimg (ramped up early on)."""
        ema_nimg = self.config.ema_kimg * 1000
        if self.config.ema_rampup is not None:
            ema_nimg = min(ema_nimg, self.images_seen * self.config.ema_rampup)
        beta = 0.5 ** (batch_size / max(ema_nimg, 1e-8))
        ema_params = list(self.G_ema.parameters())
        torch._foreach_lerp_(ema_params, list(self.G.parameters()), 1 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers(), strict=True):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, Any]:
        return {
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "G_ema": self.G_ema.state_dict(),
            "g_opt": self.g_opt.state_dict(),
            "d_opt": self.d_opt.state_dict(),
            "step": self.step,
            "images_seen": self.images_seen,
            "rng_state": list(self.rng.getstate()[1]),  # Mersenne Twister state words
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self.G_ema.load_state_dict(state["G_ema"])
        self.g_opt.load_state_dict(state["g_opt"])
        self.d_opt.load_state_dict(state["d_opt"])
        self.step = int(state["step"])
        self.images_seen = int(state["images_seen"])
        self.rng.setstate((3, tuple(state["rng_state"]), None))
