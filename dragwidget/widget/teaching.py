"""Pictures for teaching DragGAN, drawn from Python with ipycanvas.

The drag widget has its own canvas for input; these are read-only views for a class: how the
generator's features see the image (why point tracking works), and where a drag went.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from ipycanvas import Canvas

from dragwidget.drag import DragSession


def heat_colors(values: np.ndarray) -> np.ndarray:
    """[H, W] values -> [H, W, 3] uint8 by rank: the lowest bright yellow, the highest purple.

    Ranks rather than values, so that a few far-off pixels cannot wash out the near ones.
    """
    ranks = values.ravel().argsort().argsort().reshape(values.shape)
    t = (ranks / max(ranks.size - 1, 1))[..., None] ** 2
    bright, dark = np.array([253, 231, 37]), np.array([68, 1, 84])
    return (bright * (1 - t) + dark * t).astype(np.uint8)


def overlay_canvas(
    image: np.ndarray,
    heat: np.ndarray | None = None,
    points: Sequence[tuple[float, float]] = (),
    colors: Sequence[str] = ("red",),
    scale: int = 3,
    opacity: float = 0.6,
) -> Canvas:
    """An ipycanvas Canvas of `image` (H x W x 3 uint8), optionally blended with a heat map."""
    height, width = image.shape[:2]
    pixels = image.astype(np.float32)
    if heat is not None:
        pixels = (1 - opacity) * pixels + opacity * heat_colors(heat)
    big = np.repeat(np.repeat(pixels.astype(np.uint8), scale, axis=0), scale, axis=1)
    canvas = Canvas(width=width * scale, height=height * scale)
    canvas.put_image_data(big, 0, 0)
    for i, (x, y) in enumerate(points):
        canvas.fill_style = colors[i % len(colors)]
        canvas.fill_circle((x + 0.5) * scale, (y + 0.5) * scale, 5)
    return canvas


def feature_similarity(session: DragSession, point: Sequence[float], scale: int = 3) -> Canvas:
    """The current image tinted by each pixel's feature distance to the feature at `point`."""
    distances = session.feature_distances(point)
    return overlay_canvas(session.image(), distances, [tuple(point)], scale=scale)
