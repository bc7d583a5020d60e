"""Real pictures the DragGAN paper's way: pivotal tuning inversion (PTI; Roich et al. 2022).

Projection alone finds the latent whose image is closest to a picture, but a generator seldom draws
a picture it never saw: eyes and mouths come back smeared. PTI keeps that latent as a *pivot* and
tunes the synthesis weights of a copy of the generator until the pivot's image is the picture. A
locality regulariser keeps the rest of the latent space as it was: at every step a latent w_r is
taken at distance alpha from the pivot, towards a mapped random latent, and the tuned copy must
draw w_r as the original generator does, with the same loss.

Constants: the paper tunes for 350 steps at learning rate 3e-4 with lambda_R = 0.1, and alpha = 30
in FFHQ's W. A CPU budget of about 30 s allows some 100-150 steps, so the learning rate here is
3e-3. Alpha is given as a fraction of the mean distance of a mapped w from w_avg, so that it
scales to any model. At alpha = that distance, the paper's lambda_R = 0.1 keeps the model's own
images at about 33 dB PSNR against the original model (35 dB at lambda_R = 1), and 100 steps
redraw held-out faces some 2.3 dB better than 150 steps at lambda_R = 1 did, in 0.7 of the time.

The session then drags on the tuned copy. The tuning is stored as the difference from the
original synthesis weights, in fp16 when that redraws the pivot within one grey level (else fp32),
and the weights the session uses are exactly original + stored difference, so a saved session
restores them bit for bit.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import inspect
import math
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from dragwidget.drag.losses import reconstruction_loss
from dragwidget.drag.pictures import (
    FittedPicture,
    fit_picture,
    image_to_uint8,
    open_picture,
    psnr,
)
from dragwidget.drag.projection import (
    SPACES,
    check_candidates,
    image_to_tensor,
    mean_latent,
    project,
)
from dragwidget.drag.steps import Adam

# The tuned copy must redraw the pivot within this many grey levels after rounding to fp16.
FP16_TOLERANCE = 1


@dataclass(eq=False)
class SynthesisTuning:
    """Tuned synthesis weights, as differences from the weights of the generator they came from.

    `delta` maps parameter names of `generator.synthesis` to (tuned - original), fp16 or fp32;
    `base_fingerprint` identifies the original weights (`synthesis_fingerprint`).
    """

    delta: dict[str, torch.Tensor]
    base_fingerprint: str

    def apply(self, base: torch.nn.Module) -> torch.nn.Module:
        """A copy of `base` drawing with the tuned weights (the same bits every time)."""
        if synthesis_fingerprint(base) != self.base_fingerprint:
            raise ValueError(
                "these tuned weights were made from another generator (its synthesis weights "
                "differ): use the generator the picture was inverted with"
            )
        return self._apply(base)

    def _apply(self, base: torch.nn.Module) -> torch.nn.Module:
        tuned = copy.deepcopy(base)
        parameters = dict(tuned.synthesis.named_parameters())
        unknown = set(self.delta) - set(parameters)
        if unknown:
            raise ValueError(f"the tuning names weights the generator lacks: {sorted(unknown)[:3]}")
        for name, delta in self.delta.items():
            if delta.shape != parameters[name].shape:
                raise ValueError(
                    f"the tuned {name} has shape {list(delta.shape)}; the generator's has "
                    f"{list(parameters[name].shape)}"
                )
        with torch.no_grad():
            for name, delta in self.delta.items():
                parameters[name].copy_(_compose(parameters[name], delta))
        return tuned.requires_grad_(False)

    @property
    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for t in self.delta.values())

    def to_tensors(self, prefix: str) -> dict[str, torch.Tensor]:
        return {prefix + name: t.detach().cpu().contiguous() for name, t in self.delta.items()}

    @classmethod
    def from_tensors(
        cls, tensors: dict[str, torch.Tensor], prefix: str, base_fingerprint: str
    ) -> SynthesisTuning:
        delta = {k[len(prefix) :]: v for k, v in tensors.items() if k.startswith(prefix)}
        return cls(delta, base_fingerprint)


def synthesis_fingerprint(generator: torch.nn.Module) -> str:
    """A hash of the synthesis weights: which generator a tuning belongs to."""
    digest = hashlib.sha256()
    for name, value in generator.synthesis.named_parameters():
        digest.update(name.encode())
        digest.update(
            value.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes()
        )
    return digest.hexdigest()[:32]


def _compose(original: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
    return (original.detach().float() + delta.to(original.device).float()).to(original.dtype)


@dataclass
class Tuned:
    generator: torch.nn.Module  # the tuned copy, drawing with exactly base + tuning.delta
    tuning: SynthesisTuning
    loss: float  # the best reconstruction loss seen
    steps: int
    stopped: bool


def tune(
    generator: torch.nn.Module,
    pivot: torch.Tensor,
    target: torch.Tensor,
    steps: int = 100,
    *,
    lr: float = 3e-3,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    locality_weight: float = 0.1,
    locality_radius: float = 1.0,
    seed: int = 0,
    on_step: Callable[[float, torch.Tensor], bool] | None = None,
) -> Tuned:
    """Tune a copy of `generator`'s synthesis weights so that `pivot` draws `target`.

    `pivot` is [1, num_ws, w_dim]; `target` [1, 3, H, W] in [-1, 1]. `locality_radius` is alpha as
    a fraction of the mean distance of a mapped w from w_avg; `locality_weight` 0 turns the
    regulariser off. `on_step(loss, image)` after each step; True stops, keeping the best weights.
    """
    if not isinstance(steps, int) or isinstance(steps, bool) or steps < 1:
        raise ValueError(f"tuning steps must be a positive integer, not {steps!r}")
    loss = loss or reconstruction_loss("auto")
    base = generator.eval().requires_grad_(False)
    tuned = copy.deepcopy(base)
    names, parameters = zip(*tuned.synthesis.named_parameters(), strict=True)
    optimizers = [Adam(p, lr=lr) for p in parameters]
    best = [p.detach().clone() for p in parameters]
    best_loss, done, stopped = math.inf, 0, False
    pivot = pivot.detach()
    regularise = locality_weight > 0
    if regularise:
        random = torch.Generator().manual_seed(seed)
        w_avg = mean_latent(base).to(pivot.device)
        alpha = locality_radius * _typical_distance(base, w_avg, random)
    for p in parameters:
        p.requires_grad_(True)
    try:
        for _ in range(steps):
            if regularise:
                w_r = _locality_sample(base, pivot, alpha, random)
                with torch.no_grad():
                    reference = base.synthesis(w_r, noise_mode="const")
                images = tuned.synthesis(torch.cat([pivot, w_r]), noise_mode="const")
                image = images[:1]
                value = loss(image, target).sum()
                total = value + locality_weight * loss(images[1:], reference).sum()
            else:
                image = tuned.synthesis(pivot, noise_mode="const")
                value = total = loss(image, target).sum()
            grads = torch.autograd.grad(total, parameters)
            value = float(value.detach())
            if value < best_loss:
                best_loss = value
                for kept, p in zip(best, parameters, strict=True):
                    kept.copy_(p.detach())
            for adam, grad in zip(optimizers, grads, strict=True):
                adam.step(grad)
            done += 1
            if on_step is not None and on_step(value, image.detach()):
                stopped = True
                break
    finally:
        for p in parameters:
            p.requires_grad_(False)
    tuning, generator = _stored_tuning(base, dict(zip(names, best, strict=True)), pivot)
    return Tuned(generator, tuning, best_loss, done, stopped)


def _typical_distance(base: torch.nn.Module, w_avg: torch.Tensor, random: torch.Generator) -> float:
    z = torch.randn(256, base.z_dim, generator=random).to(w_avg.device)
    c = torch.zeros(256, base.c_dim, device=w_avg.device) if getattr(base, "c_dim", 0) else None
    with torch.no_grad():
        w = base.mapping(z, c)[:, 0].float()
    return float((w - w_avg).norm(dim=1).mean())


def _locality_sample(
    base: torch.nn.Module, pivot: torch.Tensor, alpha: float, random: torch.Generator
) -> torch.Tensor:
    """w_r = w_p + alpha (w_z - w_p) / ||w_z - w_p||, per layer, for one mapped random w_z."""
    z = torch.randn(1, base.z_dim, generator=random).to(pivot.device)
    c = torch.zeros(1, base.c_dim, device=pivot.device) if getattr(base, "c_dim", 0) else None
    with torch.no_grad():
        w_z = base.mapping(z, c).float()
    direction = w_z - pivot
    return pivot + alpha * direction / direction.norm(dim=2, keepdim=True).clamp_min(1e-8)


@torch.no_grad()
def _stored_tuning(
    base: torch.nn.Module, weights: dict[str, torch.Tensor], pivot: torch.Tensor
) -> tuple[SynthesisTuning, torch.nn.Module]:
    """The tuning as stored, fp16 differences if they redraw the pivot within FP16_TOLERANCE,
    and the copy of `base` that draws with it (one copy fewer than applying it again)."""
    originals = dict(base.synthesis.named_parameters())
    delta = {
        name: (value.float() - originals[name].float())
        for name, value in weights.items()
        if not torch.equal(value, originals[name])
    }
    fingerprint = synthesis_fingerprint(base)
    exact = SynthesisTuning(delta, fingerprint)
    half = SynthesisTuning({k: v.half() for k, v in delta.items()}, fingerprint)
    exact_generator = exact._apply(base)
    if all(torch.isfinite(v).all() for v in half.delta.values()):
        half_generator = half._apply(base)
        full_image = image_to_uint8(exact_generator.synthesis(pivot, noise_mode="const"))
        half_image = image_to_uint8(half_generator.synthesis(pivot, noise_mode="const"))
        difference = np.abs(full_image.astype(int) - half_image.astype(int)).max()
        if difference <= FP16_TOLERANCE:
            return half, half_generator
    return exact, exact_generator


def split_inversion_options(options: dict) -> tuple[dict, dict]:
    """(Inversion's keyword arguments, the rest) of a mixed set of options."""
    names = set(inspect.signature(Inversion).parameters) - {"generator", "picture"}
    return (
        {k: v for k, v in options.items() if k in names},
        {k: v for k, v in options.items() if k not in names},
    )


# ----- the whole inversion ------------------------------------------------------------------------


@dataclass
class InversionStep:
    """Progress of an inversion, after each step of either phase."""

    phase: str  # "projection" or "tuning"
    step: int  # 1-based, over both phases
    total: int
    loss: float  # this step's reconstruction loss
    best_loss: float  # the best of this phase so far
    seconds: float  # since the inversion began
    pixels: torch.Tensor  # this step's image, [1, 3, H, W] in [-1, 1]

    def image(self) -> np.ndarray:
        """This step's image, H x W x 3 uint8."""
        return image_to_uint8(self.pixels)


@dataclass
class InversionResult:
    latent: torch.Tensor  # the pivot, [1, num_ws, w_dim]
    base_generator: torch.nn.Module  # the generator inverted into
    generator: torch.nn.Module  # its tuned copy, or itself without tuning
    tuning: SynthesisTuning | None
    picture: FittedPicture  # the picture as fitted to the model
    loss_name: str
    projection_psnr: float  # dB, the pivot on the original generator
    psnr: float  # dB, the pivot on the tuned copy (the same as projection_psnr without tuning)
    steps: int
    stopped: bool
    seconds: float

    def image(self) -> np.ndarray:
        """The reconstruction, H x W x 3 uint8."""
        with torch.no_grad():
            return image_to_uint8(self.generator.synthesis(self.latent, noise_mode="const"))


class Inversion:
    """A picture inverted into a generator: projection (the pivot), then pivotal tuning.

    The picture is read, checked and fitted when the Inversion is made (errors come at once);
    `run()` does the work and blocks; `stop()`, from any thread, ends it after the current step
    with the best latent and weights so far. Settings (defaults fit a 128 px model in about 30 s of
    a 2-core CPU, see benchmarks/inversion.py):

    - `fit` "crop" or "pad" to the model's aspect ratio; `crop_position` 0-1 along the long side
    - `pivot` "w" (the paper) or "w+"; `steps` of projection, `lr` its peak learning rate
    - `tuning_steps` of PTI (0: projection only), `tuning_lr`, `locality_weight` (lambda_R),
      `locality_radius` (alpha, as a fraction of the mean distance of a mapped w from w_avg)
    - `loss`: "auto" (LPIPS when its weights are on this machine, else the default pixel loss),
      "lpips", or a pixel loss of dragwidget.drag.losses.PIXEL_LOSSES
    - `candidates`: mapped random latents scored against the picture for projection's start
      (the best of them and w_avg; 0: w_avg)
    - `seed` for the random starting guesses and locality samples
    """

    def __init__(
        self,
        generator: torch.nn.Module,
        picture: str | Path | bytes | Image.Image | np.ndarray,
        *,
        fit: str = "crop",
        crop_position: float = 0.5,
        pivot: str = "w",
        steps: int = 100,
        lr: float = 0.05,
        tuning_steps: int = 100,
        tuning_lr: float = 3e-3,
        locality_weight: float = 0.1,
        locality_radius: float = 1.0,
        loss: str = "auto",
        candidates: int = 256,
        seed: int = 0,
    ) -> None:
        for name, value, low in (("steps", steps, 1), ("tuning_steps", tuning_steps, 0)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
        check_candidates(candidates)
        for name, value in (("lr", lr), ("tuning_lr", tuning_lr)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, not {value!r}")
        locality = (("locality_weight", locality_weight), ("locality_radius", locality_radius))
        for name, value in locality:
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a number >= 0, not {value!r}")
        if pivot not in SPACES:
            raise ValueError(f"pivot must be 'w' or 'w+', not {pivot!r}")
        self.generator = generator.eval().requires_grad_(False)
        self.loss = reconstruction_loss(loss)
        self.original = open_picture(picture)
        self.picture = fit_picture(self.original, generator.synthesis.img_size, fit, crop_position)
        self.pivot, self.steps, self.lr, self.seed = pivot, steps, float(lr), seed
        self.candidates = candidates
        self.tuning_steps, self.tuning_lr = tuning_steps, float(tuning_lr)
        self.locality_weight, self.locality_radius = float(locality_weight), float(locality_radius)
        self._stop = threading.Event()

    @property
    def total_steps(self) -> int:
        return self.steps + self.tuning_steps

    def stop(self) -> None:
        """End `run()` after its current step, keeping the best so far. Safe from any thread."""
        self._stop.set()

    @contextlib.contextmanager
    def _stop_on_interrupt(self) -> Iterator[None]:
        """On the main thread, a first Ctrl-C (a kernel interrupt) stops, keeping the best so far;
        a second one interrupts as usual."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return

        def interrupted(signum: int, frame: object) -> None:
            if self._stop.is_set():
                raise KeyboardInterrupt
            self._stop.set()

        previous = signal.signal(signal.SIGINT, interrupted)
        try:
            yield
        finally:
            signal.signal(signal.SIGINT, previous)

    def run(self, on_step: Callable[[InversionStep], None] | None = None) -> InversionResult:
        """Invert the picture; `on_step(InversionStep)` after every step (on this thread)."""
        self._stop.clear()
        start = time.perf_counter()
        device = next(self.generator.parameters()).device
        target = image_to_tensor(self.picture.image, device)
        loss = self.loss.to(device) if isinstance(self.loss, torch.nn.Module) else self.loss
        counter = {"step": 0, "best": math.inf}

        def reporter(phase: str) -> Callable[[float, torch.Tensor], bool]:
            counter["best"] = math.inf

            def report(value: float, image: torch.Tensor) -> bool:
                counter["step"] += 1
                counter["best"] = min(counter["best"], value)
                if on_step is not None:
                    seconds = time.perf_counter() - start
                    on_step(
                        InversionStep(
                            phase,
                            counter["step"],
                            self.total_steps,
                            value,
                            counter["best"],
                            seconds,
                            image,
                        )
                    )
                return self._stop.is_set()

            return report

        with torch.enable_grad(), self._stop_on_interrupt():
            projection = project(
                self.generator, target, self.steps, space=self.pivot, lr=self.lr, loss=loss,
                candidates=self.candidates, seed=self.seed, on_step=reporter("projection"),
            )  # fmt: skip
            picture = self.picture.array()
            with torch.no_grad():
                projected = self.generator.synthesis(projection.latent, noise_mode="const")
            projection_psnr = psnr(image_to_uint8(projected), picture)
            generator, tuning, stopped = self.generator, None, projection.stopped
            if self.tuning_steps and not stopped:
                tuned = tune(
                    self.generator, projection.latent, target, self.tuning_steps,
                    lr=self.tuning_lr, loss=loss, locality_weight=self.locality_weight,
                    locality_radius=self.locality_radius, seed=self.seed,
                    on_step=reporter("tuning"),
                )  # fmt: skip
                generator, tuning, stopped = tuned.generator, tuned.tuning, tuned.stopped
        result = InversionResult(
            latent=projection.latent,
            base_generator=self.generator,
            generator=generator,
            tuning=tuning,
            picture=self.picture,
            loss_name=getattr(self.loss, "name", type(self.loss).__name__),
            projection_psnr=projection_psnr,
            psnr=projection_psnr,
            steps=counter["step"],
            stopped=stopped,
            seconds=0.0,
        )
        if tuning is not None:
            result.psnr = psnr(result.image(), picture)
        result.seconds = time.perf_counter() - start
        return result
