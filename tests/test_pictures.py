"""Pictures people bring: what is read, what is refused (and how it is said), and the fit."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from dragwidget.drag import pictures
from dragwidget.drag.pictures import fit_picture, fit_preview, open_picture


def png_bytes(image: Image.Image, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def test_ordinary_pictures_are_read_as_rgb(tmp_path):
    rgba = Image.new("RGBA", (6, 4), (255, 0, 0, 0))  # fully transparent: becomes white
    grey = Image.new("L", (5, 5), 77)
    path = tmp_path / "grey.png"
    grey.save(path)
    assert np.all(np.asarray(open_picture(rgba)) == 255)
    assert open_picture(path).mode == "RGB" and np.all(np.asarray(open_picture(path)) == 77)
    assert open_picture(png_bytes(grey, "JPEG")).size == (5, 5)
    array = np.zeros((3, 4, 3), np.uint8)
    assert open_picture(array).size == (4, 3)


def test_exif_rotation_of_phone_photos_is_applied():
    image = Image.new("RGB", (8, 4), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90 degrees
    assert open_picture(png_bytes(image, "JPEG", exif=exif)).size == (4, 8)


def test_bad_pictures_get_clear_errors(tmp_path, monkeypatch):
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        open_picture(empty)
    with pytest.raises(ValueError, match="no such file"):
        open_picture(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="no pixels"):
        open_picture(Image.new("RGB", (0, 5)))
    with pytest.raises(ValueError, match="no pixels"):
        open_picture(np.zeros((0, 4, 3), np.uint8))

    sixteen = png_bytes(Image.fromarray(np.full((4, 4), 40000, np.uint16)))
    with pytest.raises(ValueError, match="16-bit"):
        open_picture(sixteen)
    with pytest.raises(ValueError, match="uint16.*8-bit"):
        open_picture(np.full((4, 4, 3), 40000, np.uint16))

    cmyk = png_bytes(Image.new("CMYK", (4, 4), (0, 50, 100, 0)), "JPEG")
    with pytest.raises(ValueError, match="CMYK"):
        open_picture(cmyk)

    frames = [Image.new("RGB", (4, 4), (80 * i, 0, 0)) for i in range(3)]
    animated = io.BytesIO()
    frames[0].save(animated, format="GIF", save_all=True, append_images=frames[1:])
    with pytest.raises(ValueError, match=r"animated \(3 frames\)"):
        open_picture(animated.getvalue())

    # A huge picture is refused from its header, before its pixels are decoded.
    huge = png_bytes(Image.new("1", (8000, 6000)))
    assert len(huge) < 200_000
    with pytest.raises(ValueError, match="48 megapixels"):
        open_picture(huge)
    monkeypatch.setattr(pictures, "MAX_FILE_BYTES", 1000)
    big = tmp_path / "big.png"
    big.write_bytes(png_bytes(Image.effect_noise((64, 64), 50).convert("RGB")))
    with pytest.raises(ValueError, match="MB are read"):
        open_picture(big)

    with pytest.raises(ValueError, match="not a picture"):
        open_picture(b"%PDF-1.4 definitely not an image")
    truncated = png_bytes(Image.effect_noise((64, 64), 50))[:300]
    with pytest.raises(ValueError, match="could not be decoded"):
        open_picture(truncated)
    with pytest.raises(ValueError, match="file path"):
        open_picture(3.5)


def test_landscape_and_portrait_pictures_are_cropped_or_padded():
    ramp = np.tile(np.arange(200, dtype=np.uint8)[None, :, None], (100, 1, 3))  # 200 x 100
    landscape = Image.fromarray(ramp)
    centre = fit_picture(landscape, (32, 32), "crop")
    assert centre.image.size == (32, 32) and centre.box == (50.0, 0.0, 150.0, 100.0)
    left = fit_picture(landscape, (32, 32), "crop", crop_position=0.0)
    assert left.box == (0.0, 0.0, 100.0, 100.0)
    assert left.array()[:, :, 0].mean() < centre.array()[:, :, 0].mean()
    padded = fit_picture(landscape, (32, 32), "pad")
    assert padded.box == (0.0, -50.0, 200.0, 150.0)
    rows = padded.array()[:, :, 0].astype(int)
    assert np.ptp(rows[0]) == 0 and np.ptp(rows[16]) > 150  # a flat band above the picture
    portrait = fit_picture(Image.fromarray(ramp.transpose(1, 0, 2)), (64, 32), "crop")
    assert portrait.image.size == (32, 64) and portrait.box == (0.0, 0.0, 100.0, 200.0)

    preview = fit_preview(landscape, centre)
    assert preview.size == (200, 100)
    shown = np.asarray(preview).astype(int)
    assert shown[50, 20].sum() < 0.5 * np.asarray(landscape).astype(int)[50, 20].sum() + 1
    assert fit_preview(landscape, padded).size == (200, 200)
    with pytest.raises(ValueError, match="fit"):
        fit_picture(landscape, (32, 32), "stretch")
    with pytest.raises(ValueError, match="crop_position"):
        fit_picture(landscape, (32, 32), "crop", crop_position=2)
