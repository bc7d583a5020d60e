"""What the front end sends, checked and turned into session input: points, strokes, the mask.

Every function here raises ValueError with a plain-language message on bad input, changing nothing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dragwidget.drag import check_point

Point = tuple[float, float]
Pair = tuple[Point, Point | None]

UNPAINTED, FLEXIBLE, FIXED = 0, 1, 2
STROKE_VALUES = {"flexible": FLEXIBLE, "fixed": FIXED, "erase": UNPAINTED}


def parse_points(value: Any, width: int, height: int) -> list[Pair]:
    """The `points` trait -> [(handle, target or None)], checked."""
    if not isinstance(value, (list, tuple)):
        raise ValueError("points must be a list of {handle: [x, y], target: [x, y] or null}")
    pairs: list[Pair] = []
    for i, item in enumerate(value, start=1):
        if not isinstance(item, dict) or "handle" not in item:
            raise ValueError(f"point {i} must look like {{handle: [x, y], target: [x, y] or null}}")
        handle = check_point(item["handle"], width, height, f"point {i}'s handle")
        target = item.get("target")
        if target is not None:
            target = check_point(target, width, height, f"point {i}'s target")
        pairs.append((handle, target))
    return pairs


def points_trait(pairs: list[Pair]) -> list[dict]:
    """[(handle, target or None)] -> the `points` trait's JSON form."""
    return [
        {
            "handle": [float(h[0]), float(h[1])],
            "target": None if t is None else [float(t[0]), float(t[1])],
        }
        for h, t in pairs
    ]


def parse_stroke(content: dict, buffers: list) -> tuple[int, float, np.ndarray]:
    """A stroke message -> (paint value, radius, [N, 2] int polyline)."""
    mode = content.get("mode")
    if mode not in STROKE_VALUES:
        raise ValueError(f"a stroke's mode must be 'flexible', 'fixed' or 'erase', not {mode!r}")
    radius = content.get("radius")
    if (
        isinstance(radius, bool)
        or not isinstance(radius, (int, float))
        or not math.isfinite(radius)
        or not 0 <= radius <= 4096
    ):
        raise ValueError(
            f"a stroke's radius must be a number of pixels in [0, 4096], not {radius!r}"
        )
    if len(buffers) != 1:
        raise ValueError(f"a stroke needs exactly one binary buffer of points, not {len(buffers)}")
    try:
        raw = memoryview(buffers[0]).cast("B")
    except TypeError:
        raise ValueError("a stroke's buffer must be binary (Int16Array of x, y pairs)") from None
    if len(raw) == 0 or len(raw) % 4:
        raise ValueError(
            "a stroke's buffer must hold Int16 (x, y) pairs (a multiple of 4 bytes), "
            f"not {len(raw)} bytes"
        )
    xy = np.frombuffer(raw, dtype="<i2").astype(np.int64).reshape(-1, 2)
    return STROKE_VALUES[mode], float(radius), xy


def paint_stroke(canvas: np.ndarray, xy: np.ndarray, radius: float, value: int) -> None:
    """Paint discs of `radius` along the polyline `xy` into the uint8 canvas (clipped to it)."""
    height, width = canvas.shape
    segments = np.concatenate([xy[:1], xy]) if len(xy) == 1 else xy
    for (x0, y0), (x1, y1) in zip(segments[:-1], segments[1:], strict=True):
        left = max(int(math.floor(min(x0, x1) - radius)), 0)
        right = min(int(math.ceil(max(x0, x1) + radius)), width - 1)
        top = max(int(math.floor(min(y0, y1) - radius)), 0)
        bottom = min(int(math.ceil(max(y0, y1) + radius)), height - 1)
        if left > right or top > bottom:
            continue
        ys, xs = np.mgrid[top : bottom + 1, left : right + 1]
        # distance from each pixel to the segment: project onto it, clamp to its ends
        dx, dy = x1 - x0, y1 - y0
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else np.clip(((xs - x0) * dx + (ys - y0) * dy) / length2, 0, 1)
        dist2 = (xs - (x0 + t * dx)) ** 2 + (ys - (y0 + t * dy)) ** 2
        canvas[top : bottom + 1, left : right + 1][dist2 <= radius * radius] = value


def parse_mask_bytes(data: bytes, width: int, height: int) -> np.ndarray:
    """The `mask` trait's bytes -> uint8 (H, W) paint canvas; empty bytes -> all unpainted."""
    if len(data) == 0:
        return np.zeros((height, width), np.uint8)
    if len(data) != width * height:
        raise ValueError(
            f"the mask must be {width}x{height} = {width * height} bytes, not {len(data)}"
        )
    paint = np.frombuffer(data, np.uint8).reshape(height, width).copy()
    if paint.max() > FIXED:
        raise ValueError("mask values must be 0 (unpainted), 1 (flexible) or 2 (fixed)")
    return paint


def may_change(paint: np.ndarray) -> np.ndarray | None:
    """Painted canvas -> the session's mask (True = may change), or None when nothing is painted.

    Painting a flexible area means "only this may change"; painting only fixed areas means
    "everything but these may change".
    """
    if (paint == FLEXIBLE).any():
        return paint == FLEXIBLE
    if (paint == FIXED).any():
        return paint != FIXED
    return None


def paint_from_mask(mask: Any, width: int, height: int) -> np.ndarray:
    """A bool (H, W) array (True = may change) or None -> a paint canvas that maps back to it."""
    paint = np.zeros((height, width), np.uint8)
    if mask is None:
        return paint
    array = np.asarray(mask)
    if array.shape != (height, width):
        raise ValueError(f"the mask must have shape ({height}, {width}), not {array.shape}")
    if array.dtype != np.bool_:
        raise ValueError(f"the mask must be a bool array (True = may change), not {array.dtype}")
    paint[array] = FLEXIBLE
    if not array.any():
        paint[:] = FIXED  # nothing may change: all fixed
    return paint
