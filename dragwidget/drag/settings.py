"""The knobs of a drag, their defaults (from the DragGAN paper), and their validation."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from dragwidget.drag.methods import METHODS
from dragwidget.messages import short_repr

# Radii in the paper are given for 512-px images and scale with the resolution.
REFERENCE_RESOLUTION = 512
PAPER_R1 = 3.0
PAPER_R2 = 12.0
# The largest radius a setting may ask for: the cost of a step grows with its square (a disc of
# r1 = 64 px holds 12,900 pixels per handle, a window of r2 = 64 px 16,641).
MAX_RADIUS = 64


@dataclass(frozen=True)
class DragSettings:
    """None means worked out by `resolve`: scaled to the model, or the drag method's own."""

    step_size: float | None = None  # the method's own (DragGAN: the paper's 2e-3)
    latent_space: str = "w+"
    free_layers: int = 6  # the first k layer latents are optimized; the rest stay
    r1: float | None = None
    r2: int | None = None
    mask_weight: float = 20.0
    tracking: str = "l1"
    feature_layer: str | None = None
    stop_distance: float | None = None
    max_steps: int = 300
    method: str = "patchdrag"  # how handles are tracked and pulled: see dragwidget.drag.methods

    def replace(self, **changes: object) -> DragSettings:
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            names = ", ".join(f.name for f in dataclasses.fields(self))
            raise ValueError(
                f"unknown setting(s) {short_repr(sorted(unknown))}; the settings are: {names}"
            )
        return dataclasses.replace(self, **changes)

    def validate(self, num_ws: int, feature_layers: list[str]) -> None:
        """Raise ValueError naming the first bad field and its accepted range."""
        if self.step_size is not None:
            _positive("step_size", self.step_size)
        if self.latent_space not in ("w", "w+"):
            found = short_repr(self.latent_space)
            raise ValueError(f"latent_space must be 'w' or 'w+', not {found}")
        if not _is_int(self.free_layers) or not 1 <= self.free_layers <= num_ws:
            found = short_repr(self.free_layers)
            raise ValueError(f"free_layers must be an integer in [1, {num_ws}], not {found}")
        if self.r1 is not None:
            _positive("r1", self.r1)
            if self.r1 > MAX_RADIUS:
                raise ValueError(f"r1 must be in (0, {MAX_RADIUS}] pixels, not {self.r1!r}")
        if self.r2 is not None and (not _is_int(self.r2) or not 1 <= self.r2 <= MAX_RADIUS):
            raise ValueError(
                f"r2 must be an integer in [1, {MAX_RADIUS}] pixels, not {short_repr(self.r2)}"
            )
        _finite("mask_weight", self.mask_weight)
        if self.mask_weight < 0:
            raise ValueError(f"mask_weight must be >= 0, not {self.mask_weight!r}")
        if self.tracking not in ("l1", "l2"):
            raise ValueError(f"tracking must be 'l1' or 'l2', not {short_repr(self.tracking)}")
        if self.feature_layer is not None and self.feature_layer not in feature_layers:
            found = short_repr(self.feature_layer)
            raise ValueError(f"feature_layer must be one of {feature_layers}, not {found}")
        if self.stop_distance is not None:
            _positive("stop_distance", self.stop_distance)
        if not _is_int(self.max_steps) or not 1 <= self.max_steps <= 100_000:
            raise ValueError(
                f"max_steps must be an integer in [1, 100000], not {short_repr(self.max_steps)}"
            )
        if not isinstance(self.method, str) or self.method not in METHODS:
            raise ValueError(
                f"method must be one of {sorted(METHODS)}, not {short_repr(self.method)}"
            )


@dataclass(frozen=True)
class ResolvedSettings:
    """Settings with every scaled default worked out for one model and one set of points."""

    step_size: float
    latent_space: str
    free_layers: int
    r1: float
    r2: int
    mask_weight: float
    tracking: str
    feature_layer: str
    stop_distance: float
    max_steps: int
    method: str


def resolve(
    settings: DragSettings,
    resolution: int,
    num_ws: int,
    default_feature_layer: str,
    num_points: int,
) -> ResolvedSettings:
    """Scale the paper's 512-px radii to this model; the step size and where to stop are the
    method's unless set (DragGAN: 2e-3, and within 1 px for up to 5 points, else 2 px).

    free_layers beyond the model's num_ws means all layers.
    """
    scale = resolution / REFERENCE_RESOLUTION
    r1 = settings.r1 if settings.r1 is not None else max(1.0, round(PAPER_R1 * scale))
    r2 = settings.r2 if settings.r2 is not None else max(2, round(PAPER_R2 * scale))
    method = METHODS[settings.method]
    step_size = settings.step_size if settings.step_size is not None else method.step_size
    stop = settings.stop_distance
    if stop is None:
        stop = method.stop_distance(num_points)
    return ResolvedSettings(
        step_size=step_size,
        latent_space=settings.latent_space,
        free_layers=min(settings.free_layers, num_ws),
        r1=float(r1),
        r2=int(r2),
        mask_weight=settings.mask_weight,
        tracking=settings.tracking,
        feature_layer=settings.feature_layer or default_feature_layer,
        stop_distance=float(stop),
        max_steps=settings.max_steps,
        method=settings.method,
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, not {short_repr(value)}")


def _positive(name: str, value: object) -> None:
    _finite(name, value)
    if value <= 0:
        raise ValueError(f"{name} must be > 0, not {value!r}")
