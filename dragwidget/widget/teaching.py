"""Pictures for teaching DragGAN, drawn from Python with ipycanvas.

The drag widget has its own canvas for input; these are read-only views for a class: how the
generator's features see the image (why point tracking works), and where a drag went.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ipycanvas import Canvas

from dragwidget.drag import DragSession

# The viridis colour map at five even stops, dark purple to bright yellow: its lightness rises
# evenly, so equal steps in value look like equal steps in colour.
VIRIDIS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float64
)


def heat_colors(
    values: np.ndarray, low: float | None = None, high: float | None = None
) -> np.ndarray:
    """[H, W] values -> [H, W, 3] uint8, linear in the value: `low` (default: the smallest value)
    and below dark purple, `high` (default: the largest) and above bright yellow (viridis)."""
    values = np.asarray(values, dtype=np.float64)
    low = float(np.nanmin(values)) if low is None else float(low)
    high = float(np.nanmax(values)) if high is None else float(high)
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"heat_colors needs finite bounds, not low={low!r}, high={high!r}")
    t = np.clip((values - low) / (high - low), 0, 1) if high > low else np.zeros_like(values)
    t = np.nan_to_num(t, nan=0.0) * (len(VIRIDIS) - 1)
    below = np.minimum(t.astype(int), len(VIRIDIS) - 2)
    frac = (t - below)[..., None]
    colours = VIRIDIS[below] * (1 - frac) + VIRIDIS[below + 1] * frac
    return np.round(colours).astype(np.uint8)


def overlay_canvas(
    image: np.ndarray,
    heat: np.ndarray | None = None,
    points: Sequence[tuple[float, float]] = (),
    colors: Sequence[str] = ("red",),
    scale: int = 3,
    opacity: float = 0.6,
    heat_range: tuple[float | None, float | None] = (None, None),
) -> Canvas:
    """An ipycanvas Canvas of `image` (H x W x 3 uint8), optionally blended with a heat map
    (high values bright; `heat_range` = (low, high) as in `heat_colors`)."""
    height, width = image.shape[:2]
    pixels = image.astype(np.float32)
    if heat is not None:
        pixels = (1 - opacity) * pixels + opacity * heat_colors(heat, *heat_range)
    big = np.repeat(np.repeat(pixels.astype(np.uint8), scale, axis=0), scale, axis=1)
    canvas = Canvas(width=width * scale, height=height * scale)
    canvas.put_image_data(big, 0, 0)
    for i, (x, y) in enumerate(points):
        canvas.fill_style = colors[i % len(colors)]
        canvas.fill_circle((x + 0.5) * scale, (y + 0.5) * scale, 5)
    return canvas


def feature_similarity(session: DragSession, point: Sequence[float], scale: int = 3) -> Canvas:
    """The current image tinted by each pixel's feature distance to the feature at `point`.

    Linear in the distance: 0 (the point's own feature) bright yellow, the median distance over
    the image and beyond dark purple, so what is bright is what looks more alike than usual.
    """
    distances = session.feature_distances(point)
    typical = float(np.median(distances))
    return overlay_canvas(
        session.image(), -distances, [tuple(point)], scale=scale, heat_range=(-typical, 0.0)
    )
