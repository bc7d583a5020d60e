"""Pictures people bring: read them safely, refuse what cannot be edited, fit them to the model.

A picture is checked before anything is decoded where the header allows it (size, frames, mode), so
a huge or odd file is refused quickly with an error that names the problem and how to fix it.
Landscape and portrait pictures are fitted to the model's aspect ratio by cropping (the crop can be
placed) or padding, and `fit_preview` draws what was kept.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageOps, UnidentifiedImageError

MAX_FILE_BYTES = 100 * 2**20
MAX_PIXELS = 40_000_000  # about 7300 x 5500; far more than any model here can use
FITS = ("crop", "pad")
# Modes that convert to RGB without losing meaning (8 bits a channel, no colour management).
_EIGHT_BIT_MODES = {"RGB", "RGBA", "RGBa", "RGBX", "L", "LA", "La", "P", "PA", "1"}


@dataclass(frozen=True)
class FittedPicture:
    """A picture at the model's size, and where it came from in the original.

    `box` (left, top, right, bottom) is the kept part of the original, in its pixels; with padding
    it is larger than the original (negative left/top: padding added on that side).
    """

    image: Image.Image
    box: tuple[float, float, float, float]
    fit: str
    original_size: tuple[int, int]  # width, height

    def array(self) -> np.ndarray:
        """H x W x 3 uint8."""
        return np.array(self.image)


def image_to_uint8(img: torch.Tensor) -> np.ndarray:
    """[1, C, H, W] in [-1, 1] -> H x W x 3 uint8 (grey models are repeated to RGB)."""
    img = (img[0].detach().float() * 127.5 + 128).clamp(0, 255).to(torch.uint8)
    if img.shape[0] == 1:
        img = img.repeat(3, 1, 1)
    return img[:3].permute(1, 2, 0).cpu().numpy()


def psnr(image: np.ndarray, picture: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images of one shape (inf when equal)."""
    mse = np.mean((image.astype(np.float64) - picture.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def open_picture(source: str | Path | bytes | Image.Image | np.ndarray) -> Image.Image:
    """A path, file bytes, PIL image or uint8 array -> an RGB PIL image, or a ValueError.

    Refused with a message saying why: empty files and pictures without pixels, files over
    MAX_FILE_BYTES or pictures over MAX_PIXELS, 16-bit and floating-point pictures, CMYK
    pictures, animated pictures (choose a frame first), and anything that is not a picture.
    """
    name = "the picture"
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = str(path)
        if not path.is_file():
            raise ValueError(f"{name}: no such file")
        size = path.stat().st_size
        _check_file_size(name, size)
        source = path.read_bytes()
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        _check_file_size(name, len(data))
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise ValueError(
                f"{name} is not a picture that Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF...)"
            ) from None
        return _checked(image, name, from_file=True)
    if isinstance(source, np.ndarray):
        return _checked(_from_array(source), "the array", from_file=False)
    if isinstance(source, Image.Image):
        return _checked(source, name, from_file=False)
    raise ValueError(
        "a picture must be a file path, file bytes, a PIL image or an H x W (x 3) uint8 array, "
        f"not {type(source).__name__}"
    )


def fit_picture(
    image: Image.Image, size: tuple[int, int], fit: str = "crop", crop_position: float = 0.5
) -> FittedPicture:
    """Fit an RGB picture to `size` (height, width): crop or pad to its aspect ratio, then resize.

    `crop_position` places the crop along the picture's long side (0: left/top, 0.5: centre,
    1: right/bottom). Padding fills with the mean colour of the picture's border.
    """
    if fit not in FITS:
        raise ValueError(f"fit must be 'crop' or 'pad', not {fit!r}")
    if not 0.0 <= crop_position <= 1.0:
        raise ValueError(f"crop_position must be in [0, 1], not {crop_position!r}")
    height, width = size
    source_w, source_h = image.size
    target_ratio = width / height
    if fit == "crop":
        if source_w / source_h > target_ratio:  # too wide: keep a window of the full height
            keep_w = source_h * target_ratio
            left = (source_w - keep_w) * crop_position
            box = (left, 0.0, left + keep_w, float(source_h))
        else:
            keep_h = source_w / target_ratio
            top = (source_h - keep_h) * crop_position
            box = (0.0, top, float(source_w), top + keep_h)
        fitted = image.resize((width, height), Image.LANCZOS, box=box)
        return FittedPicture(fitted, box, fit, (source_w, source_h))
    if source_w / source_h > target_ratio:
        canvas_w, canvas_h = source_w, round(source_w / target_ratio)
    else:
        canvas_w, canvas_h = round(source_h * target_ratio), source_h
    left, top = (canvas_w - source_w) // 2, (canvas_h - source_h) // 2
    canvas = Image.new("RGB", (canvas_w, canvas_h), _border_colour(image))
    canvas.paste(image, (left, top))
    fitted = canvas.resize((width, height), Image.LANCZOS)
    box = (-float(left), -float(top), float(canvas_w - left), float(canvas_h - top))
    return FittedPicture(fitted, box, fit, (source_w, source_h))


def fit_preview(image: Image.Image, fitted: FittedPicture, max_side: int = 256) -> Image.Image:
    """The original picture, small, with what the fit keeps outlined and the rest dimmed."""
    scale = min(1.0, max_side / max(image.size))
    small = image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR
    )
    left, top, right, bottom = (v * scale for v in fitted.box)
    if fitted.fit == "pad":  # show the padding around the picture
        pad_left, pad_top = round(-left), round(-top)
        canvas = Image.new("RGB", (round(right - left), round(bottom - top)), (96, 96, 96))
        canvas.paste(small, (pad_left, pad_top))
        ImageDraw.Draw(canvas).rectangle(
            [pad_left, pad_top, pad_left + small.width - 1, pad_top + small.height - 1],
            outline=(255, 200, 0),
        )
        return canvas
    dimmed = Image.blend(small, Image.new("RGB", small.size, (0, 0, 0)), 0.6)
    box = (round(left), round(top), round(right), round(bottom))
    dimmed.paste(small.crop(box), box[:2])
    ImageDraw.Draw(dimmed).rectangle(
        [box[0], box[1], box[2] - 1, box[3] - 1], outline=(255, 200, 0), width=2
    )
    return dimmed


def _check_file_size(name: str, size: int) -> None:
    if size == 0:
        raise ValueError(f"{name} is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"{name} is {size / 2**20:.0f} MB; pictures up to {MAX_FILE_BYTES // 2**20} MB are "
            "read: save a smaller copy first"
        )


def _from_array(array: np.ndarray) -> Image.Image:
    if array.dtype in (np.uint16, np.int32, np.float32, np.float64):
        raise ValueError(
            f"the array is {array.dtype}; pictures are read as 8-bit: pass "
            "(array / array.max() * 255).astype(np.uint8) or similar"
        )
    if array.dtype != np.uint8 or array.ndim not in (2, 3):
        raise ValueError(
            f"an array picture must be H x W or H x W x 3 (or 4) uint8, not {array.dtype} "
            f"{array.shape}"
        )
    if array.ndim == 3 and array.shape[2] not in (3, 4):
        raise ValueError(f"an array picture needs 3 (RGB) or 4 (RGBA) channels, not {array.shape}")
    if 0 in array.shape:
        raise ValueError(f"the array has no pixels (shape {array.shape})")
    return Image.fromarray(np.ascontiguousarray(array))


def _checked(image: Image.Image, name: str, from_file: bool) -> Image.Image:
    width, height = image.size
    if width == 0 or height == 0:
        raise ValueError(f"{name} has no pixels ({width} x {height})")
    if width * height > MAX_PIXELS:
        raise ValueError(
            f"{name} is {width} x {height} = {width * height / 1e6:.0f} megapixels; pictures up "
            f"to {MAX_PIXELS / 1e6:.0f} megapixels are read: downscale it first"
        )
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        raise ValueError(
            f"{name} is animated ({frames} frames); choose one: "
            "img = PIL.Image.open(path); img.seek(k); then pass img.convert('RGB')"
        )
    if image.mode == "CMYK":
        raise ValueError(
            f"{name} is CMYK (a print format): its colours need the file's colour profile; "
            "convert it to RGB in an image editor (or PIL.ImageCms) first"
        )
    if image.mode not in _EIGHT_BIT_MODES:
        raise ValueError(
            f"{name} has {image.mode!r} pixels (16-bit, 32-bit or floating point); pictures are "
            "read as 8-bit RGB: convert it to 8 bits per channel first"
        )
    try:
        if from_file:
            image = ImageOps.exif_transpose(image)  # phone photos store their rotation in EXIF
        image.load()
    except (OSError, SyntaxError, Image.DecompressionBombError) as error:
        raise ValueError(f"{name} could not be decoded ({error})") from None
    if image.mode in ("RGBA", "RGBa", "LA", "La", "PA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))  # transparent areas become white
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _border_colour(image: Image.Image) -> tuple[int, int, int]:
    pixels = np.asarray(image)
    border = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
    return tuple(int(v) for v in border.mean(axis=0).round())
