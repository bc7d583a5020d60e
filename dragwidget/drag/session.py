"""DragSession: one image being edited by dragging, driven one optimization step at a time.

A widget, a script, a test and a benchmark all drive this same object. It owns the latent, the
handle/target points, the mask, the optimizer of the open drag, the settings and the history of
finished drags. A drag opens at the first `step()` after the points are set and is committed to the
history by `finish()` (which `run()` calls itself).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from dragwidget.drag import session_file, steps
from dragwidget.drag.methods import DragMethod, create_method
from dragwidget.drag.pictures import image_to_uint8
from dragwidget.drag.progress import TextProgress
from dragwidget.drag.pti import (
    Inversion,
    InversionResult,
    InversionStep,
    SynthesisTuning,
    split_inversion_options,
)
from dragwidget.drag.settings import DragSettings, ResolvedSettings, resolve
from dragwidget.messages import short_repr
from dragwidget.networks.stylegan2 import constant_weights

Point = tuple[float, float]


class DragBusyError(RuntimeError):
    """The session is running a drag in another thread; stop it before changing anything."""


@dataclass
class StepRecord:
    """What one step found: the handles tracked on this step's image and their distances."""

    step: int
    handles: list[Point]
    distances: list[float]
    loss: float
    done: bool
    image: np.ndarray | None = None


@dataclass
class DragResult:
    steps: int
    handles: list[Point]
    distances: list[float]
    converged: bool
    stopped: bool


@dataclass
class HistoryEntry:
    kind: str  # "drag", "new_image" or "picture"
    ws_before: torch.Tensor
    ws_after: torch.Tensor
    points_before: list[tuple[Point, Point]]
    points_after: list[tuple[Point, Point]]
    seed_before: int | None = None
    seed_after: int | None = None
    steps: int = 0
    # The tuned synthesis weights in use before/after (None: the generator's own).
    tuning_before: SynthesisTuning | None = None
    tuning_after: SynthesisTuning | None = None


@dataclass
class _OpenDrag:
    """The state of a drag between its first step and `finish()`."""

    settings: ResolvedSettings
    ws_before: torch.Tensor
    points_before: list[tuple[Point, Point]]
    free: torch.nn.Parameter
    fixed: torch.Tensor
    optimizer: steps.Adam
    handles: torch.Tensor
    targets: torch.Tensor
    method: DragMethod | None = None  # made on the first step, from its features
    initial_features: torch.Tensor | None = None
    fixed_area: torch.Tensor | None = None
    steps: int = 0
    trajectory: list[list[Point]] = field(default_factory=list)
    # The weights stay constant while the drag is open: what derives from them is kept.
    scope: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    # Draws the image of the last step (the one its handles were tracked on), on demand.
    image: Callable[[], torch.Tensor] | None = None
    feature_size: tuple[int, int] | None = None  # of the feature map, from the first step


def check_point(point: Sequence[float], width: int, height: int, name: str = "point") -> Point:
    """(x, y) as two finite floats inside a width x height image (pixel centres at integers)."""
    try:
        x, y = (float(v) for v in point)
    except (TypeError, ValueError):
        found = short_repr(point)
        raise ValueError(f"{name} must be a pair of numbers (x, y), not {found}") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise ValueError(f"{name} ({x}, {y}) is not a finite point")
    if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
        raise ValueError(
            f"{name} ({x:g}, {y:g}) is outside the image: x must be in [0, {width - 1}] "
            f"and y in [0, {height - 1}]"
        )
    return (x, y)


def check_seed(seed: Any) -> int:
    """A seed as NumPy's RandomState takes it: an integer in [0, 2**32)."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or not 0 <= seed < 2**32:
        raise ValueError(f"seed must be an integer in [0, 2**32), not {short_repr(seed)}")
    return int(seed)


def check_truncation_psi(psi: Any) -> float:
    """A finite number (1 keeps the latent as mapped; below 1 pulls it toward the average)."""
    if isinstance(psi, bool) or not isinstance(psi, int | float) or not math.isfinite(psi):
        raise ValueError(f"truncation_psi must be a finite number, not {short_repr(psi)}")
    return float(psi)


def preferred_device() -> torch.device:
    """CUDA when there is a GPU, else Apple's MPS, else the CPU."""
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def latent_from_seed(
    generator: torch.nn.Module, seed: int, truncation_psi: float, device: torch.device
) -> torch.Tensor:
    """The official tool's initial latent: z from NumPy's RandomState(seed), then mapping."""
    z = np.random.RandomState(seed).randn(1, generator.z_dim)
    z = torch.from_numpy(z).to(device=device, dtype=torch.float32)
    c = torch.zeros(1, generator.c_dim, device=device) if generator.c_dim else None
    with torch.no_grad():
        return generator.mapping(z, c, truncation_psi=truncation_psi).float()


class DragSession:
    def __init__(
        self,
        generator: torch.nn.Module,
        seed: int = 0,
        *,
        latent: torch.Tensor | np.ndarray | None = None,
        truncation_psi: float = 0.7,
        device: str | torch.device | None = None,
        **settings: Any,
    ):
        if device is None:
            device = next(generator.parameters()).device
        self.device = torch.device(device)
        self._base_generator = generator.to(self.device).eval()
        for parameter in self._base_generator.parameters():
            parameter.requires_grad_(False)
        self._generator = self._base_generator
        self._tuning: SynthesisTuning | None = None
        self.height, self.width = self.generator.synthesis.img_size
        self.truncation_psi = check_truncation_psi(truncation_psi)
        self._lock = threading.RLock()
        self._stop_requested = threading.Event()
        self._running = False
        self._points: list[tuple[Point, Point]] = []
        self._mask: np.ndarray | None = None
        self._drag: _OpenDrag | None = None
        self._history: list[HistoryEntry] = []
        self._future: list[HistoryEntry] = []
        self._image_cache: tuple[torch.Tensor, np.ndarray] | None = None
        self.settings = DragSettings()
        self.update_settings(**settings)
        self.seed: int | None = None
        if latent is None:
            self._set_seed(seed)
        else:
            self._ws = self._check_latent(latent)

    @classmethod
    def from_image(
        cls,
        generator: torch.nn.Module,
        image: str | Path | bytes | Image.Image | np.ndarray,
        steps: int = 100,
        *,
        device: str | torch.device | None = None,
        on_step: Callable[[InversionStep], None] | None = None,
        progress: bool = True,
        **options: Any,
    ) -> DragSession:
        """Edit a picture (a path, file bytes, PIL image or uint8 array): invert it into the
        generator the paper's way, projection then pivotal tuning, and drag on the tuned copy.

        `steps` of projection; `options` are Inversion's (tuning_steps, fit, crop_position, pivot,
        loss, ...; see dragwidget.drag.pti.Inversion), the rest DragSettings fields. `on_step`
        gets an InversionStep after every step; `progress` draws a text bar on stderr. Ctrl-C (a
        kernel interrupt) stops the inversion early, keeping the best so far.
        """
        inversion_options, settings = split_inversion_options(options)
        DragSettings().replace(**settings)  # a misspelt option fails now, not after the inversion
        if device is not None:
            generator = generator.to(device)
        inversion = Inversion(generator, image, steps=steps, **inversion_options)
        bar = TextProgress(inversion.total_steps, "inverting") if progress else None

        def report(record: InversionStep) -> None:
            if bar is not None:
                bar.update(record)
            if on_step is not None:
                on_step(record)

        try:
            result = inversion.run(report)
        finally:
            if bar is not None:
                bar.close()
        return cls.from_inversion(result, device=device, **settings)

    @classmethod
    def from_inversion(
        cls, result: InversionResult, *, device: str | torch.device | None = None, **settings: Any
    ) -> DragSession:
        """A session editing an inverted picture (see dragwidget.drag.pti.Inversion)."""
        session = cls(result.base_generator, latent=result.latent, device=device, **settings)
        session.seed = None
        session._use_tuning(result.tuning, result.generator)
        return session

    @property
    def generator(self) -> torch.nn.Module:
        """The generator being dragged: the one given, or its tuned copy for an inverted picture."""
        return self._generator

    @property
    def base_generator(self) -> torch.nn.Module:
        """The generator the session was made with (never tuned)."""
        return self._base_generator

    @property
    def tuning(self) -> SynthesisTuning | None:
        """The tuned weights in use (an inverted picture's), or None."""
        return self._tuning

    # ----- settings -----------------------------------------------------------------------------

    def update_settings(self, **changes: Any) -> None:
        """Change settings (ValueError names a bad one); an open drag is committed first."""
        new = self.settings.replace(**changes)
        new.validate(self.generator.num_ws, list(self.generator.synthesis.feature_layers))
        with self._editing():
            self.settings = new

    def resolved_settings(self) -> ResolvedSettings:
        return resolve(
            self.settings,
            self.generator.img_resolution,
            self.generator.num_ws,
            self.generator.synthesis.default_feature_layer,
            max(1, len(self._points)),
        )

    # ----- points and mask ----------------------------------------------------------------------

    @property
    def points(self) -> list[tuple[Point, Point]]:
        return list(self._points)

    def add_point(self, handle: Sequence[float], target: Sequence[float]) -> int:
        """Add a handle -> target pair in image pixels (x, y); returns its index."""
        pair = (self._check_point(handle, "handle"), self._check_point(target, "target"))
        with self._editing():
            self._points.append(pair)
            return len(self._points) - 1

    def move_point(
        self,
        index: int,
        handle: Sequence[float] | None = None,
        target: Sequence[float] | None = None,
    ) -> None:
        self._check_index(index)
        old_handle, old_target = self._points[index]
        new_handle = old_handle if handle is None else self._check_point(handle, "handle")
        new_target = old_target if target is None else self._check_point(target, "target")
        with self._editing():
            self._points[index] = (new_handle, new_target)

    def remove_point(self, index: int) -> None:
        self._check_index(index)
        with self._editing():
            del self._points[index]

    def clear_points(self) -> None:
        with self._editing():
            self._points.clear()

    @property
    def mask(self) -> np.ndarray | None:
        """H x W bool: True where the image may change; None means everything may change."""
        return None if self._mask is None else self._mask.copy()

    def set_mask(self, mask: np.ndarray | torch.Tensor | None) -> None:
        checked = None if mask is None else self._check_mask(mask)
        with self._editing():
            self._mask = checked

    # ----- the drag -----------------------------------------------------------------------------

    @property
    def is_dragging(self) -> bool:
        return self._drag is not None

    @property
    def is_running(self) -> bool:
        return self._running

    def step(self, render: bool = False) -> StepRecord:
        """One step: forward to the feature block, track the handles, one Adam step on the latent.

        How the handles are tracked and what the loss pulls is the drag method's (`method`).

        The returned handles are where tracking found them on this step's image. That image is
        in the record when `render` is set, and `step_image()` draws it afterwards on demand: the
        rest of the network runs from this step's pass, without gradients, only when a frame is
        wanted (a widget shows only the frames the browser can take).
        """
        with self._lock:
            drag = self._drag or self._open_drag()
            cfg = drag.settings
            ws = self._compose(drag)
            size = (self.height, self.width)
            crop = self._crop(drag)
            features, drag.image = features_then_image(
                self.generator.synthesis, ws, cfg.feature_layer, crop, cfg.free_layers
            )
            features = features.float()
            if drag.feature_size is None:
                drag.feature_size = tuple(features.shape[-2:])
            if not torch.isfinite(features.sum()):
                raise FloatingPointError(
                    "the generator produced NaN or infinite features; the step was not applied "
                    "(lower the step size, or undo)"
                )
            if drag.method is None:
                drag.method = create_method(
                    cfg.method, features.detach(), drag.handles, drag.targets,
                    size, cfg.r1, cfg.r2, cfg.tracking,
                )  # fmt: skip
                drag.initial_features = features.detach()
                if self._mask is not None and self._mask.any() and not self._mask.all():
                    mask = torch.from_numpy(self._mask).to(self.device)
                    drag.fixed_area = steps.fixed_area_at(mask, features.shape[-2:])
            else:
                with torch.no_grad():
                    drag.handles = drag.method.track(features.detach(), drag.handles, crop)
            distances = (drag.targets - drag.handles).norm(dim=1)
            active = distances > cfg.stop_distance
            done = not bool(active.any())
            loss_value = 0.0
            if not done:
                loss = drag.method.motion_loss(features, drag.handles, active, crop)
                if drag.fixed_area is not None and cfg.mask_weight > 0:
                    loss = loss + cfg.mask_weight * steps.mask_loss(
                        features, drag.initial_features, drag.fixed_area
                    )
                (grad,) = torch.autograd.grad(loss, [drag.free])
                drag.optimizer.step(grad)  # refuses a NaN or infinite gradient or result
                loss_value = float(loss.detach())
            drag.steps += 1
            handles = [(float(x), float(y)) for x, y in drag.handles.tolist()]
            drag.trajectory.append(handles)
            self._points = [(h, t) for h, (_, t) in zip(handles, self._points, strict=True)]
            return StepRecord(
                step=drag.steps,
                handles=handles,
                distances=[float(d) for d in distances.tolist()],
                loss=loss_value,
                done=done,
                image=image_to_uint8(drag.image()) if render else None,
            )

    def step_image(self) -> np.ndarray:
        """The image of the open drag's last step (H x W x 3 uint8), drawn now from that step.

        Costs the rest of the network after the feature block, without gradients: call it for
        the steps whose frame will be shown.
        """
        with self._lock:
            if self._drag is None or self._drag.image is None:
                raise ValueError("no step to draw: step() first (a finished drag keeps no step)")
            return image_to_uint8(self._drag.image())

    def run(
        self,
        max_steps: int | None = None,
        on_step: Callable[[StepRecord], None] | None = None,
        render: bool = False,
    ) -> DragResult:
        """Step until every handle is within the stop distance, `max_steps`, or `stop()`."""
        limit = self.settings.max_steps if max_steps is None else max_steps
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ValueError(f"max_steps must be a positive integer, not {max_steps!r}")
        if not self._lock.acquire(blocking=False):
            raise DragBusyError("a drag is already running")
        try:
            if self._running:
                raise DragBusyError("a drag is already running")
            self._check_can_drag()
            self._running = True
            self._stop_requested.clear()
            record, stopped, taken = None, False, 0
            try:
                while taken < limit:
                    if self._stop_requested.is_set():
                        stopped = True
                        break
                    record = self.step(render=render)
                    taken += 1
                    if on_step is not None:
                        on_step(record)
                    if record.done:
                        break
            finally:
                self._running = False
                self.finish()
            distances = record.distances if record else self._distances()
            return DragResult(
                steps=taken,
                handles=[h for h, _ in self._points],
                distances=distances,
                converged=bool(record and record.done),
                stopped=stopped,
            )
        finally:
            self._lock.release()

    def stop(self) -> None:
        """Ask a running `run()` to return after its current step. Safe from any thread."""
        self._stop_requested.set()

    def finish(self) -> None:
        """Commit the open drag (if any) to the history; handles stay where they were tracked."""
        with self._lock:
            drag, self._drag = self._drag, None
            if drag is None:
                return
            drag.scope.close()
            ws_after = self._compose(drag).detach()
            if drag.steps == 0 or torch.equal(ws_after, drag.ws_before):
                self._ws = drag.ws_before
                return
            self._ws = ws_after
            self._push(
                HistoryEntry(
                    "drag",
                    drag.ws_before,
                    ws_after,
                    drag.points_before,
                    self.points,
                    self.seed,
                    self.seed,
                    drag.steps,
                    self._tuning,
                    self._tuning,
                )  # fmt: skip
            )

    @property
    def trajectory(self) -> list[list[Point]]:
        """Tracked handle positions of each step of the open drag."""
        return [] if self._drag is None else [list(h) for h in self._drag.trajectory]

    # ----- images and latents -------------------------------------------------------------------

    @property
    def latent(self) -> torch.Tensor:
        """The current w+ latent [1, num_ws, w_dim] (a copy)."""
        ws = self._ws if self._drag is None else self._compose(self._drag).detach()
        return ws.clone()

    def image(self, format: str = "numpy") -> np.ndarray | Image.Image:
        """The current image, rendered without gradients: H x W x 3 uint8, or a PIL image."""
        if format not in ("numpy", "pil"):
            raise ValueError(f"format must be 'numpy' or 'pil', not {format!r}")
        ws = self.latent
        cache = self._image_cache
        if cache is None or not torch.equal(cache[0], ws):
            with torch.no_grad():
                pixels = image_to_uint8(self.generator.synthesis(ws, noise_mode="const"))
            self._image_cache = cache = (ws, pixels)
        pixels = cache[1].copy()
        return Image.fromarray(pixels) if format == "pil" else pixels

    def feature_distances(self, point: Sequence[float], metric: str | None = None) -> np.ndarray:
        """How far each pixel's feature is from the feature at `point`, on the current image.

        [H, W] float32: low where the generator "sees" the same thing as at the point. Point
        tracking searches this map near the handle; shown whole, it explains why tracking works.
        """
        x, y = self._check_point(point, "point")
        cfg = self.resolved_settings()
        with torch.no_grad():
            _, features = self.generator.synthesis(
                self.latent, feature_layer=cfg.feature_layer, with_image=False
            )
            features = features.float()
            size = (self.height, self.width)
            reference = steps.sample_features(features, torch.tensor([[x, y]]).to(features), size)
            distances = steps.distance_map(features, reference[0], size, metric or cfg.tracking)
        return distances.cpu().numpy()

    def new_image(self, seed: int) -> None:
        """Start over from another seed (points are cleared); undo brings the old image back."""
        seed = check_seed(seed)
        with self._editing():
            ws_before, seed_before, points_before = self._ws, self.seed, self.points
            tuning_before = self._tuning
            self._use_tuning(None)  # a seed draws the generator's own image
            self._set_seed(seed)
            self._points = []
            self._push(
                HistoryEntry(
                    "new_image",
                    ws_before,
                    self._ws,
                    points_before,
                    [],
                    seed_before,
                    self.seed,
                    tuning_before=tuning_before,
                )  # fmt: skip
            )

    def open_picture(self, result: InversionResult) -> None:
        """Edit an inverted picture next (points are cleared); undo brings the old image back.

        `result` comes from Inversion(session.base_generator, picture).run().
        """
        if result.base_generator is not self._base_generator:
            raise ValueError("the picture was inverted with another generator than this session's")
        latent = self._check_latent(result.latent)
        with self._editing():
            entry = HistoryEntry(
                "picture", self._ws, latent, self.points, [], self.seed, None,
                tuning_before=self._tuning, tuning_after=result.tuning,
            )  # fmt: skip
            self._use_tuning(result.tuning, result.generator)
            self._ws, self.seed, self._points = latent, None, []
            self._push(entry)

    # ----- history ------------------------------------------------------------------------------

    @property
    def history(self) -> list[HistoryEntry]:
        return list(self._history)

    @property
    def can_undo(self) -> bool:
        return bool(self._history) or self.is_dragging

    @property
    def can_redo(self) -> bool:
        return bool(self._future)

    def undo(self) -> bool:
        """Go back one finished drag (an open drag is finished first). False if nothing to undo."""
        with self._editing():
            if not self._history:
                return False
            entry = self._history.pop()
            self._future.append(entry)
            self._use_tuning(entry.tuning_before)
            self._ws, self.seed, self._points = (
                entry.ws_before,
                entry.seed_before,
                list(entry.points_before),
            )
            return True

    def redo(self) -> bool:
        with self._editing():
            if not self._future:
                return False
            entry = self._future.pop()
            self._history.append(entry)
            self._use_tuning(entry.tuning_after)
            self._ws, self.seed, self._points = (
                entry.ws_after,
                entry.seed_after,
                list(entry.points_after),
            )
            return True

    # ----- saving -------------------------------------------------------------------------------

    def save(self, path: str | Path) -> Path:
        """Write latents, points, mask, settings and history to a small safetensors file."""
        return session_file.write(self, path)

    @classmethod
    def load(
        cls, path: str | Path, generator: torch.nn.Module, device: str | torch.device | None = None
    ) -> DragSession:
        """Restore a saved session onto `generator`; the image is the saved one, bit for bit.

        Every field passes the checks the live API applies; a defect raises ValueError naming
        the file and the field.
        """
        return session_file.read(path, generator, device)

    # ----- internals ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _editing(self) -> Iterator[None]:
        """Guard a change of state: refused while a drag runs; an open drag is committed first."""
        if not self._lock.acquire(blocking=False):
            raise DragBusyError("a drag is running: stop it (session.stop()) before editing")
        try:
            if self._running:
                raise DragBusyError("a drag is running: stop it (session.stop()) before editing")
            self.finish()
            yield
        finally:
            self._lock.release()

    def _use_tuning(
        self, tuning: SynthesisTuning | None, tuned: torch.nn.Module | None = None
    ) -> None:
        """Draw with `tuning`'s weights (None: the generator's own); `tuned`: its copy, if made."""
        if tuning is self._tuning:
            return
        if tuning is None:
            self._generator = self._base_generator
        elif tuned is not None and next(tuned.parameters()).device == self.device:
            self._generator = tuned.eval().requires_grad_(False)
        else:
            self._generator = tuning.apply(self._base_generator)
        self._tuning = tuning
        self._image_cache = None

    def _set_seed(self, seed: int) -> None:
        ws = latent_from_seed(self.generator, seed, self.truncation_psi, self.device)
        self._ws, self.seed = self._check_latent(ws), seed

    def _push(self, entry: HistoryEntry) -> None:
        self._history.append(entry)
        self._future.clear()

    def _check_can_drag(self) -> None:
        if not self._points:
            raise ValueError("add at least one handle/target pair (add_point) before dragging")

    def _open_drag(self) -> _OpenDrag:
        self._check_can_drag()
        cfg = self.resolved_settings()
        ws = self._ws.detach()
        k = cfg.free_layers
        if cfg.latent_space == "w":
            free = torch.nn.Parameter(ws[:, :1].clone())
        else:
            free = torch.nn.Parameter(ws[:, :k].clone())
        points = self.points
        drag = _OpenDrag(
            settings=cfg,
            ws_before=ws,
            points_before=points,
            free=free,
            fixed=ws[:, k:].clone(),
            optimizer=steps.Adam(free, lr=cfg.step_size),
            handles=torch.tensor([h for h, _ in points], dtype=torch.float32, device=self.device),
            targets=torch.tensor([t for _, t in points], dtype=torch.float32, device=self.device),
        )
        drag.scope.enter_context(constant_weights(self.generator))
        self._drag = drag
        return drag

    def _crop(self, drag: _OpenDrag) -> steps.Crop | None:
        """The part of the feature map this step reads, when computing only that part is
        possible and worth it: after the first step (which sizes the map), without a mask
        (whose loss reads the whole map), for networks that can (`feature_windows`)."""
        if (
            drag.feature_size is None
            or drag.fixed_area is not None
            or not getattr(self.generator.synthesis, "feature_windows", False)
        ):
            return None
        reach = drag.method.reach() if drag.method is not None else None
        if reach is None:
            return None
        crop = steps.step_crop(drag.handles, reach, (self.height, self.width), drag.feature_size)
        map_h, map_w = drag.feature_size
        if (crop.bottom - crop.top) * (crop.right - crop.left) > map_h * map_w // 2:
            return None  # little to save
        return crop

    def _compose(self, drag: _OpenDrag) -> torch.Tensor:
        k = drag.settings.free_layers
        free = drag.free.expand(-1, k, -1) if drag.settings.latent_space == "w" else drag.free
        return torch.cat([free, drag.fixed], dim=1)

    def _distances(self) -> list[float]:
        return [math.dist(h, t) for h, t in self._points]

    def _check_point(self, point: Sequence[float], name: str) -> Point:
        return check_point(point, self.width, self.height, name)

    def _check_index(self, index: int) -> None:
        if not isinstance(index, int) or not -len(self._points) <= index < len(self._points):
            raise ValueError(f"no point with index {index!r}: there are {len(self._points)} points")

    def _check_mask(self, mask: np.ndarray | torch.Tensor) -> np.ndarray:
        if isinstance(mask, torch.Tensor):
            mask = mask.detach().cpu().numpy()
        mask = np.asarray(mask)
        if mask.shape != (self.height, self.width):
            raise ValueError(
                f"mask must have shape (height, width) = ({self.height}, {self.width}), "
                f"not {mask.shape}"
            )
        if mask.dtype == bool:
            return mask.copy()
        found = f"dtype {mask.dtype}"
        if np.issubdtype(mask.dtype, np.integer):
            if np.isin(mask, (0, 1)).all():
                return mask.astype(bool)
            found = f"integers from {mask.min()} to {mask.max()}"
        raise ValueError(
            f"mask must be a bool array (True = may change) or integers 0/1, not {found}"
        )

    def _check_latent(self, latent: torch.Tensor | np.ndarray) -> torch.Tensor:
        ws = torch.as_tensor(latent, dtype=torch.float32).to(self.device)
        shape = (1, self.generator.num_ws, self.generator.w_dim)
        if ws.ndim == 2:
            ws = ws.unsqueeze(0)
        if tuple(ws.shape) != shape:
            raise ValueError(f"latent must have shape {list(shape)}, not {list(ws.shape)}")
        if not torch.isfinite(ws).all():
            raise ValueError("latent contains NaN or infinite values")
        return ws.clone()


def features_then_image(
    synthesis: torch.nn.Module,
    ws: torch.Tensor,
    feature_layer: str,
    crop: steps.Crop | None = None,
    grad_layers: int | None = None,
) -> tuple[torch.Tensor, Callable[[], torch.Tensor]]:
    """The feature block's output (with gradients; only the crop's part when given) and a
    function that draws ws's image. `grad_layers`: the latents after the first so many are
    constants (no gradient needed through them).

    Our networks draw the image from the same pass; for a generator without
    `features_then_image` the function runs the whole synthesis again.
    """
    if hasattr(synthesis, "features_then_image"):
        window = None if crop is None else (crop.top, crop.bottom, crop.left, crop.right)
        return synthesis.features_then_image(
            ws, feature_layer, noise_mode="const", window=window, grad_layers=grad_layers
        )
    _, features = synthesis(ws, noise_mode="const", feature_layer=feature_layer, with_image=False)
    kept = ws.detach()

    def image() -> torch.Tensor:
        with torch.no_grad():
            return synthesis(kept, noise_mode="const")

    return features, image
