"""Procedural cartoon faces: a small world in which dragging a point means something.

Why this exists: the project trains its own StyleGAN2 and may download nothing, so it draws its own
data. A face is a good world for DragGAN: a class knows what "open the mouth", "close the eyes" or
"turn the head" should look like, and every landmark is known exactly, so drags can be measured.
The world is kept simple (flat-shaded shapes, centred heads, moderate pose, plain or two-tone
backgrounds) so that a small GAN trained for minutes learns it well.

How a face is drawn: every feature lives on the front of the head, an ellipsoid, in *head units*
(u to the right, v down, 1 = the head's half-width). Turning the head (yaw) rotates those points
about the vertical axis and projects them orthographically, so features slide and foreshorten
like on a real head; the outline, ears and hair silhouette are drawn in the image plane. Roll,
scale and position then place the head. Shapes are PIL polygons drawn at `SUPERSAMPLE` times the
size and box-filtered down, which anti-aliases the edges and runs at several hundred images a
second on one core.

Coordinates: landmarks are (x, y) in pixels of the returned image, with integer values at pixel
centres (pixel [row 3, col 5] is at x=5, y=3), the same as array indexing. "left" and "right" are
as seen in the image (the viewer's left), not the subject's.
"""

from __future__ import annotations

import colorsys
import dataclasses
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

LANDMARK_NAMES: tuple[str, ...] = (
    "left_eye_outer",
    "left_eye_inner",
    "left_eye_top",
    "left_eye_bottom",
    "left_pupil",
    "right_eye_inner",
    "right_eye_outer",
    "right_eye_top",
    "right_eye_bottom",
    "right_pupil",
    "left_brow_centre",
    "right_brow_centre",
    "nose_tip",
    "left_mouth_corner",
    "right_mouth_corner",
    "upper_lip_centre",
    "lower_lip_centre",
    "chin",
    "left_jaw",
    "right_jaw",
)
HAIR_STYLES: tuple[str, ...] = ("bald", "short", "long", "bun", "spiky", "bob", "afro")
LATENT_DRAWS = 46  # random numbers per face (see _draw_params); a latent needs at least these
SUPERSAMPLE = 3  # drawing scale before the box filter; 3x3 samples per output pixel
JAW_ANGLE = 0.28 * math.pi  # where on the outline the jaw landmarks sit (0 = side, pi/2 = chin)

Colour = tuple[int, int, int]


@dataclass(frozen=True)
class FaceParams:
    """Everything that decides one face. Lengths are in head units unless noted otherwise."""

    # placement and pose
    center_x: float  # head centre, fraction of the image width
    center_y: float  # head centre, fraction of the image height
    head_width: float  # head half-width, fraction of the image (before `scale`)
    scale: float
    yaw: float  # radians; positive turns the face toward the image's right
    roll: float  # radians; positive tilts clockwise on screen
    # head
    elongation: float  # half-height / half-width
    jaw: float  # how much the lower face narrows toward the chin
    # eyes
    eye_spacing: float  # distance of each eye centre from the midline
    eye_height: float  # v of the eye centres
    eye_width: float  # half-width of an eye
    eye_aspect: float  # half-height of a fully open eye / half-width
    eye_open: float  # 0 closed .. 1 fully open
    gaze_x: float  # -1 .. 1, where the irises look
    gaze_y: float
    # brows
    brow_gap: float  # from the top of the open eye to the brow centre
    brow_arch: float
    brow_tilt: float  # > 0 raises the inner ends (worried), < 0 lowers them (cross)
    brow_thickness: float
    # nose and mouth
    nose_y: float
    nose_width: float
    mouth_y: float
    mouth_width: float  # half-width
    smile: float  # -1 frown .. 1 smile: lifts the mouth corners
    mouth_open: float  # 0 closed .. 1 wide open
    # ears and hair
    ear_size: float
    hair_style: str  # one of HAIR_STYLES
    hairline: float  # fraction of the half-height above the centre where the hair starts
    hair_volume: float  # how far the hair stands off the head
    # colours
    skin: Colour
    hair: Colour
    iris: Colour
    shirt: Colour
    background: Colour
    background2: Colour
    background_split: float  # fraction of the height where background2 starts; 1 = plain
    blush: bool
    # lighting: a soft linear shading gradient across the image
    light_angle: float
    light_strength: float


_SKIN = np.array([[255, 224, 196], [241, 194, 160], [224, 172, 125], [198, 134, 94], [141, 85, 54]])
_HAIR = [(25, 22, 25), (70, 45, 28), (120, 75, 38), (205, 165, 85), (165, 65, 30), (175, 175, 180)]
_IRIS = [(70, 45, 25), (40, 70, 120), (55, 95, 55), (35, 30, 30), (95, 70, 40)]


def _hsv(h: float, s: float, v: float) -> Colour:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r * 255), round(g * 255), round(b * 255))


class _SeedDraws:
    """The random numbers of a face, from a NumPy Generator seeded by an integer."""

    def __init__(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return float(self._rng.uniform(low, high))

    def integers(self, n: int) -> int:
        return int(self._rng.integers(n))


class _LatentDraws:
    """The random numbers of a face, read off a latent vector: draw i is Phi(z_i), uniform.

    z is first scaled to unit mean square, as StyleGAN's mapping network scales its input, so
    that a generator's `z -> image` can equal this `z -> face` exactly.
    """

    def __init__(self, z: np.ndarray) -> None:
        z = np.asarray(z, dtype=np.float64).reshape(-1)
        if z.size < LATENT_DRAWS:
            raise ValueError(
                f"a face needs a latent of at least {LATENT_DRAWS} numbers, not {z.size}"
            )
        z = z / math.sqrt(float(np.mean(z**2)) + 1e-8)
        self._u = [0.5 * (1.0 + math.erf(v / math.sqrt(2.0))) for v in z[:LATENT_DRAWS]]
        self._next = 0

    def _draw(self) -> float:
        u = self._u[self._next]
        self._next += 1
        return min(max(u, 0.0), 1.0 - 1e-12)

    def uniform(self, low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * self._draw()

    def integers(self, n: int) -> int:
        return int(self._draw() * n)


def sample_params(seed: int) -> FaceParams:
    """Draw a face from a NumPy Generator seeded by `seed`: same seed, same face, any machine."""
    return _draw_params(_SeedDraws(seed))


def params_from_latent(z: np.ndarray | Sequence[float]) -> FaceParams:
    """The face of a latent z (the first LATENT_DRAWS numbers after scaling z to unit mean square).

    A continuous change of z moves the face continuously, except where a discrete choice (hair
    style, colours, plain or two-tone background, blush) flips. This is the face that a generator
    trained with paired supervision draws for the same z.
    """
    return _draw_params(_LatentDraws(z))


def _draw_params(draws: _SeedDraws | _LatentDraws) -> FaceParams:
    """Every face parameter from a fixed sequence of draws (always the same number of them)."""
    u = draws.uniform
    t = u(0, len(_SKIN) - 1)
    i = int(t)
    skin = _SKIN[i] + (t - i) * (_SKIN[min(i + 1, len(_SKIN) - 1)] - _SKIN[i])
    hair = _HAIR[draws.integers(len(_HAIR))] if u() > 0.08 else _hsv(u(), 0.6, 0.7)
    bg_hue = u()
    two_tone = u() < 0.5
    split = u(0.55, 0.8)
    return FaceParams(
        center_x=0.5 + u(-0.04, 0.04),
        center_y=0.47 + u(-0.03, 0.03),
        head_width=0.25,
        scale=u(0.88, 1.08),
        yaw=u(-0.4, 0.4),
        roll=u(-0.2, 0.2),
        elongation=u(1.12, 1.32),
        jaw=u(0.0, 0.3),
        eye_spacing=u(0.36, 0.44),
        eye_height=u(-0.06, 0.08),
        eye_width=u(0.17, 0.22),
        eye_aspect=u(0.75, 1.0),
        eye_open=float(np.clip(u(-0.1, 1.25), 0.0, 1.0)),
        gaze_x=u(-1, 1),
        gaze_y=u(-1, 1),
        brow_gap=u(0.1, 0.24),
        brow_arch=u(0.0, 0.08),
        brow_tilt=u(-1, 1),
        brow_thickness=u(0.05, 0.1),
        nose_y=u(0.3, 0.42),
        nose_width=u(0.08, 0.14),
        mouth_y=u(0.62, 0.74),
        mouth_width=u(0.24, 0.38),
        smile=u(-0.6, 1.0),
        mouth_open=float(np.clip(u(-0.3, 1.0), 0.0, 1.0)),
        ear_size=u(0.85, 1.2),
        hair_style=HAIR_STYLES[draws.integers(len(HAIR_STYLES))],
        hairline=u(0.5, 0.72),
        hair_volume=u(0.04, 0.14),
        skin=tuple(int(c) for c in np.round(skin)),
        hair=hair,
        iris=_IRIS[draws.integers(len(_IRIS))],
        shirt=_hsv(u(), u(0.4, 0.8), u(0.35, 0.85)),
        background=_hsv(bg_hue, u(0.15, 0.45), u(0.75, 0.95)),
        background2=_hsv(bg_hue + u(-0.3, 0.3), u(0.2, 0.5), u(0.5, 0.8)),
        background_split=split if two_tone else 1.0,
        blush=bool(u() < 0.4),
        light_angle=u(0, 2 * math.pi),
        light_strength=u(0.04, 0.16),
    )


class _Head:
    """Maps head-unit points to image fractions, with the face's pose."""

    def __init__(self, p: FaceParams) -> None:
        self.a = p.head_width * p.scale  # one head unit, as a fraction of the image
        self.e = p.elongation
        self.cx, self.cy = p.center_x, p.center_y
        self.cos_yaw, self.sin_yaw = math.cos(p.yaw), math.sin(p.yaw)
        self.cos_roll, self.sin_roll = math.cos(p.roll), math.sin(p.roll)

    def _place(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Roll, scale and translate head-plane coordinates into image fractions, shape [N, 2]."""
        x, y = self.a * x, self.a * y
        return np.stack(
            [
                self.cx + x * self.cos_roll - y * self.sin_roll,
                self.cy + x * self.sin_roll + y * self.cos_roll,
            ],
            axis=-1,
        )

    def surface(self, u, v, dz: float = 0.0, on_head: bool = True) -> np.ndarray:
        """A point on the front of the head (plus `dz` toward the viewer), turned by the yaw."""
        u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
        z = np.sqrt(np.clip(1.0 - u**2 - (v / self.e) ** 2, 0.0, None)) if on_head else 0.0
        return self._place(u * self.cos_yaw + (z + dz) * self.sin_yaw, v)

    def silhouette(self, u, v) -> np.ndarray:
        """A point of the outline: the head's silhouette does not change as it turns."""
        u, v = np.broadcast_arrays(np.asarray(u, float), np.asarray(v, float))
        return self._place(u, v)

    def outline_uv(self, t: np.ndarray, jaw: float, grow: float = 0.0) -> tuple:
        """Head outline at angles t (sin t > 0 is the lower half, narrowed by `jaw`)."""
        s = np.sin(t)
        return (1 + grow) * np.cos(t) * (1 - jaw * np.clip(s, 0, None) ** 2), (
            self.e * (1 + grow) * s
        )


def _ring(cu: float, cv: float, ru: float, rv: float, n: int = 28) -> tuple:
    t = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
    return cu + ru * np.cos(t), cv + rv * np.sin(t)


def _mix(a: Colour, b: Colour, t: float) -> Colour:
    return tuple(round(x + t * (y - x)) for x, y in zip(a, b, strict=True))


def _shade(c: Colour, k: float) -> Colour:
    return tuple(min(255, round(x * k)) for x in c)


class _Canvas:
    """A supersampled PIL canvas that takes polygons in image fractions."""

    def __init__(self, pixels: int, colour: Colour) -> None:
        self.n = pixels
        self.image = Image.new("RGB", (pixels, pixels), colour)
        self.draw = ImageDraw.Draw(self.image)

    def xy(self, pts: np.ndarray) -> list[float]:
        # PIL puts pixel centres at integers; our fractions put them at (i + 0.5) / n.
        return (pts * self.n - 0.5).ravel().tolist()

    def poly(self, pts: np.ndarray, fill: Colour, draw: ImageDraw.ImageDraw | None = None) -> None:
        (draw or self.draw).polygon(self.xy(pts), fill=fill)

    def stroke(self, pts: np.ndarray, width: float, fill: Colour) -> None:
        """A polyline of a given width (in image fractions) drawn as one polygon."""
        d = np.gradient(pts, axis=0)
        normal = np.stack([-d[:, 1], d[:, 0]], axis=1)
        normal /= np.linalg.norm(normal, axis=1, keepdims=True) + 1e-12
        half = 0.5 * max(width, 1.2 / self.n) * normal
        self.poly(np.concatenate([pts + half, (pts - half)[::-1]]), fill)

    def mask(self) -> tuple[Image.Image, ImageDraw.ImageDraw]:
        m = Image.new("L", (self.n, self.n), 0)
        return m, ImageDraw.Draw(m)

    def paste(self, source: Image.Image | Colour, mask: Image.Image) -> None:
        """Paste a colour or a same-size image where `mask` is set (only its bounding box: fast)."""
        box = mask.getbbox()
        if box is None:
            return
        if isinstance(source, Image.Image):
            source = source.crop(box)
        self.image.paste(source, box, mask.crop(box))


def _eye_geometry(p: FaceParams, side: int) -> dict[str, np.ndarray | float]:
    """Head-unit geometry of one eye (side -1 = image left, +1 = image right)."""
    cu, cv = side * p.eye_spacing, p.eye_height
    rx = p.eye_width
    ry_full = rx * p.eye_aspect
    iris_r = 0.62 * ry_full
    return {
        "cu": cu,
        "cv": cv,
        "rx": rx,
        "ry": ry_full * p.eye_open,
        "ry_full": ry_full,
        "iris_r": iris_r,
        "iu": cu + p.gaze_x * (rx - iris_r) * 0.75,
        "iv": cv + p.gaze_y * ry_full * 0.25,
    }


def _brow_centre(p: FaceParams, side: int) -> tuple[float, float]:
    return (
        side * p.eye_spacing,
        p.eye_height - p.eye_width * p.eye_aspect - p.brow_gap - p.brow_arch,
    )


def _mouth_curves(p: FaceParams, n: int = 17) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The mouth opening: u samples, upper and lower v (the corners lift with the smile)."""
    u = np.linspace(-p.mouth_width, p.mouth_width, n)
    t = (u / p.mouth_width) ** 2
    upper = p.mouth_y - 0.12 * p.smile * t
    lower = upper + 0.3 * p.mouth_open * (1 - t)
    return u, upper, lower


def _landmarks(p: FaceParams, head: _Head) -> np.ndarray:
    """Landmarks in image fractions, in LANDMARK_NAMES order."""
    pts = []
    for side in (-1, 1):
        g = _eye_geometry(p, side)
        cu, cv, rx, ry = g["cu"], g["cv"], g["rx"], g["ry"]
        outer, inner = (cu + side * rx, cv), (cu - side * rx, cv)
        corners = [outer, inner] if side < 0 else [inner, outer]
        pts += corners + [(cu, cv - ry), (cu, cv + ry), (g["iu"], g["iv"])]
    surface = [head.surface(u, v) for u, v in pts]
    surface += [head.surface(*_brow_centre(p, s)) for s in (-1, 1)]
    surface.append(head.surface(0.0, p.nose_y, dz=0.18))
    u, upper, lower = _mouth_curves(p)
    surface += [head.surface(u[0], upper[0]), head.surface(u[-1], upper[-1])]
    surface += [head.surface(0.0, upper[len(u) // 2]), head.surface(0.0, lower[len(u) // 2])]
    outline = [head.silhouette(0.0, p.elongation)]
    for t in (math.pi - JAW_ANGLE, JAW_ANGLE):
        outline.append(head.silhouette(*head.outline_uv(np.array(t), p.jaw)))
    return np.stack(surface + outline).astype(np.float32)


def _draw_back(c: _Canvas, p: FaceParams, head: _Head) -> None:
    """Background, shirt, neck, hair behind the head, and ears: all that the head covers."""
    if p.background_split < 1.0:
        c.draw.rectangle([0, p.background_split * c.n, c.n, c.n], fill=p.background2)
    chin_y = head.cy + head.a * p.elongation
    shirt_x = 0.5 + 0.5 * (head.cx - 0.5)
    su, sv = _ring(shirt_x, chin_y + 0.36, 0.4, 0.3, 40)
    c.poly(np.stack([su, sv], 1), p.shirt)
    back = _shade(p.hair, 0.8)
    t = np.linspace(math.pi, 2 * math.pi, 20)
    grow = 1 + p.hair_volume
    if p.hair_style in ("long", "bob"):
        bottom = p.elongation + 0.7 if p.hair_style == "long" else 0.55 * p.elongation
        width = 1.18 * grow
        u = np.concatenate([width * np.cos(t), [width, -width]])
        v = np.concatenate([p.elongation * grow * np.sin(t), [bottom, bottom]])
        c.poly(head.silhouette(u, v), back)
    elif p.hair_style == "afro":
        c.poly(
            head.silhouette(*_ring(0.0, -0.3 * p.elongation, 1.45, 1.2 * p.elongation, 40)), back
        )
    elif p.hair_style == "bun":
        c.poly(head.silhouette(*_ring(0.0, -p.elongation * grow - 0.12, 0.38, 0.36)), p.hair)
    elif p.hair_style == "spiky":
        ts = np.linspace(math.pi * 1.05, math.pi * 1.95, 19)
        r = grow + 0.28 * (np.arange(19) % 2 == 1)
        c.poly(head.silhouette(r * np.cos(ts), p.elongation * r * np.sin(ts)), p.hair)
    neck_w = 0.36 * head.a
    neck = np.array(
        [
            [head.cx - neck_w, head.cy],
            [head.cx + neck_w, head.cy],
            [shirt_x + 1.1 * neck_w, chin_y + 0.1],
            [shirt_x - 1.1 * neck_w, chin_y + 0.1],
        ]
    )
    c.poly(neck, _shade(p.skin, 0.8))
    for side in (-1, 1):
        cu, cv = side * 0.97, p.eye_height + 0.15
        ear = head.surface(*_ring(cu, cv, 0.17 * p.ear_size, 0.27 * p.ear_size), -0.25, False)
        c.poly(ear, p.skin)
        inner = _ring(cu, cv, 0.09 * p.ear_size, 0.17 * p.ear_size)
        c.poly(head.surface(*inner, -0.25, False), _shade(p.skin, 0.82))


def _draw_head(c: _Canvas, p: FaceParams, head: _Head) -> None:
    """Skin, cheeks and the hair on top of the head (the hair clipped by a mask)."""
    t = np.linspace(0, 2 * math.pi, 64, endpoint=False)
    c.poly(head.silhouette(*head.outline_uv(t, p.jaw)), p.skin)
    if p.blush:
        for side in (-1, 1):
            cheek = _ring(side * 0.55, p.mouth_y - 0.2, 0.16, 0.09, 16)
            c.poly(head.surface(*cheek), _mix(p.skin, (255, 110, 110), 0.3))
    if p.hair_style == "bald":
        return
    mask, md = c.mask()
    c.poly(head.silhouette(*head.outline_uv(t, 0.0, p.hair_volume)), 255, md)
    if p.hair_style == "bob":  # a straight fringe, kept clear of the brows
        top = max(_brow_centre(p, 1)[1] - 0.12, -p.elongation * 0.9)
        centre, temple = top, top + 0.08
    else:
        centre = -p.hairline * p.elongation
        temple = centre + (0.3 if p.hair_style == "afro" else 0.5)
    u = np.linspace(-1.5, 1.5, 31)
    v = centre + (temple - centre) * np.clip(np.abs(u), 0, 1) ** 2
    below = np.concatenate([head.surface(u, v), head.silhouette([1.5, -1.5], [3.0, 3.0])])
    c.poly(below, 0, md)  # what is below the hairline keeps its skin
    c.paste(p.hair, mask)


def _draw_eyes(c: _Canvas, p: FaceParams, head: _Head) -> None:
    """Whites, then irises clipped to the whites by a mask, then the upper lids and the brows."""
    eyes = [_eye_geometry(p, side) for side in (-1, 1)]
    lash = (40, 30, 30)
    if p.eye_open > 0.05:
        mask, md = c.mask()
        for g in eyes:
            white = head.surface(*_ring(g["cu"], g["cv"], g["rx"], g["ry"]))
            c.poly(white, (250, 250, 250))
            c.poly(white, 255, md)
        layer = c.image.copy()
        ld = ImageDraw.Draw(layer)
        for g in eyes:
            iu, iv, r = g["iu"], g["iv"], g["iris_r"]
            c.poly(head.surface(*_ring(iu, iv, r, r, 20)), p.iris, ld)
            c.poly(head.surface(*_ring(iu, iv, 0.5 * r, 0.5 * r, 16)), (15, 12, 15), ld)
            c.poly(
                head.surface(*_ring(iu - 0.4 * r, iv - 0.4 * r, 0.2 * r, 0.2 * r, 8)),
                (255,) * 3,
                ld,
            )
        c.paste(layer, mask)
    for g in eyes:
        t = np.linspace(math.pi, 2 * math.pi, 15)
        lid = head.surface(g["cu"] + g["rx"] * np.cos(t), g["cv"] + g["ry"] * np.sin(t))
        c.stroke(lid, 0.05 * head.a, lash)
    brow = _shade(p.hair, 0.7) if p.hair_style != "bald" else (60, 45, 35)
    for side in (-1, 1):
        bu, bv = _brow_centre(p, side)
        q = np.linspace(-1, 1, 11)  # along the brow, +1 at the inner end
        u = bu - side * q * p.eye_width * 1.15
        v = bv + p.brow_arch * q**2 - 0.08 * p.brow_tilt * q
        half = 0.5 * p.brow_thickness * (1 - 0.5 * q**2)
        pts = np.concatenate([head.surface(u, v - half), head.surface(u, v + half)[::-1]])
        c.poly(pts, brow)


def _draw_nose_mouth(c: _Canvas, p: FaceParams, head: _Head) -> None:
    w = p.nose_width
    c.poly(head.surface(*_ring(0.0, p.nose_y, w, 0.75 * w, 20), 0.18), _shade(p.skin, 0.88))
    t = np.linspace(0.15 * math.pi, 0.85 * math.pi, 9)
    nostril = head.surface(w * np.cos(t), p.nose_y + 0.75 * w * np.sin(t), 0.18)
    c.stroke(nostril, 0.03 * head.a, _shade(p.skin, 0.6))
    u, upper, lower = _mouth_curves(p)
    c.poly(np.concatenate([head.surface(u, upper), head.surface(u, lower)[::-1]]), (90, 25, 35))
    gap = lower - upper
    if p.mouth_open > 0.25:
        keep = np.abs(u) <= 0.75 * p.mouth_width
        tu, tv = u[keep], upper[keep]
        teeth = np.concatenate(
            [head.surface(tu, tv), head.surface(tu, tv + 0.35 * gap[keep])[::-1]]
        )
        c.poly(teeth, (245, 245, 240))
    lip = _mix(_shade(p.skin, 0.7), (170, 50, 60), 0.5)
    c.stroke(head.surface(u, upper), 0.045 * head.a, lip)
    c.stroke(head.surface(u, lower), 0.045 * head.a, lip)


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    return c[None, :, None], c[:, None, None]


def _light(image: np.ndarray, p: FaceParams) -> np.ndarray:
    """A soft light: a linear brightness ramp across the picture, centred on the head."""
    x, y = _grid(image.shape[0])
    ramp = (x - p.center_x) * math.cos(p.light_angle) + (y - p.center_y) * math.sin(p.light_angle)
    gain = 1.0 + p.light_strength * np.clip(ramp / 0.5, -1.0, 1.0)
    return np.clip(image * gain + 0.5, 0, 255).astype(np.uint8)


def render_face(seed_or_params: int | FaceParams, size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """One face: uint8 RGB [size, size, 3] and float32 landmarks [K, 2] as pixel (x, y)."""
    p = seed_or_params if isinstance(seed_or_params, FaceParams) else sample_params(seed_or_params)
    head = _Head(p)
    c = _Canvas(size * SUPERSAMPLE, p.background)
    _draw_back(c, p, head)
    _draw_head(c, p, head)
    _draw_eyes(c, p, head)
    _draw_nose_mouth(c, p, head)
    image = _light(np.asarray(c.image.reduce(SUPERSAMPLE), dtype=np.float32), p)
    return image, _landmarks(p, head) * size - 0.5


def render_batch(seeds: Sequence[int], size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Faces for many seeds: uint8 [N, size, size, 3] and float32 landmarks [N, K, 2]."""
    images, marks = zip(*(render_face(int(s), size) for s in seeds), strict=True)
    return np.stack(images), np.stack(marks)


def with_changes(seed_or_params: int | FaceParams, **changes: float) -> FaceParams:
    """The face of a seed with some parameters replaced, e.g. ``with_changes(3, mouth_open=1)``."""
    p = seed_or_params if isinstance(seed_or_params, FaceParams) else sample_params(seed_or_params)
    return dataclasses.replace(p, **changes)


class FaceDataset(torch.utils.data.Dataset):
    """Faces for seeds offset .. offset+length-1: (image [3, H, W] in [-1, 1], landmarks [K, 2])."""

    def __init__(self, size: int = 128, length: int = 100_000, offset: int = 0) -> None:
        self.size, self.length, self.offset = size, length, offset

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(index)
        image, marks = render_face(self.offset + index, self.size)
        x = torch.from_numpy(image).permute(2, 0, 1).float().div_(127.5).sub_(1.0)
        return x, torch.from_numpy(marks)


def to_pil(image: np.ndarray | torch.Tensor | Image.Image) -> Image.Image:
    """A PIL image from uint8 HWC, a [-1, 1] float tensor CHW (or 1CHW), or PIL itself."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, torch.Tensor):
        x = image.detach().float().cpu()
        x = x[0] if x.ndim == 4 else x
        image = ((x.clamp(-1, 1) + 1) * 127.5 + 0.5).to(torch.uint8).permute(1, 2, 0).numpy()
    return Image.fromarray(np.asarray(image, dtype=np.uint8))


def draw_landmarks(
    image: np.ndarray | torch.Tensor | Image.Image,
    landmarks: np.ndarray | torch.Tensor,
    zoom: int = 4,
    radius: float = 1.5,
) -> Image.Image:
    """The image enlarged `zoom` times (nearest) with each landmark as a coloured dot."""
    im = to_pil(image)
    im = im.resize((im.width * zoom, im.height * zoom), Image.NEAREST)
    draw = ImageDraw.Draw(im)
    marks = np.asarray(torch.as_tensor(landmarks).detach().cpu(), dtype=np.float64)
    for k, (x, y) in enumerate(marks):
        cx, cy, r = (x + 0.5) * zoom - 0.5, (y + 0.5) * zoom - 0.5, radius * zoom / 2 + 1
        colour = _hsv(k / len(marks), 0.9, 1.0)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour, outline=(0, 0, 0))
    return im


def face_grid(
    seeds: Sequence[int | FaceParams], size: int = 128, columns: int | None = None
) -> Image.Image:
    """A contact sheet of the faces of `seeds` (or FaceParams), to look at in a notebook."""
    seeds = list(seeds)
    columns = columns or math.ceil(math.sqrt(len(seeds)))
    rows = math.ceil(len(seeds) / columns)
    sheet = Image.new("RGB", (columns * size, rows * size), (255, 255, 255))
    for i, seed in enumerate(seeds):
        image, _ = render_face(seed if isinstance(seed, FaceParams) else int(seed), size)
        sheet.paste(Image.fromarray(image), ((i % columns) * size, (i // columns) * size))
    return sheet
