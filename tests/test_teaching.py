"""The ipycanvas teaching views: what they draw is the session's, at the requested scale, and
their colours follow the data."""

import numpy as np
import pytest
from toygen import BlobGenerator

from dragwidget.drag import DragSession
from dragwidget.widget import teaching
from dragwidget.widget.teaching import VIRIDIS, feature_similarity, heat_colors, overlay_canvas


def brightness(colours: np.ndarray) -> np.ndarray:
    return colours.astype(int).sum(axis=-1)


def test_heat_colors_are_linear_in_the_value():
    values = np.array([[0.0, 0.25, 0.5, 0.75, 1.0]])
    assert np.array_equal(heat_colors(values)[0], VIRIDIS.astype(np.uint8))
    between = heat_colors(np.array([[0.0, 0.125, 0.25]]), low=0.0, high=1.0)[0].astype(float)
    assert np.allclose(between[1], (between[0] + between[2]) / 2, atol=1)


def test_equal_values_get_equal_colours_and_the_lowest_is_dark():
    values = np.array([[3.0, 3.0], [3.0, 7.0]])
    colours = heat_colors(values)
    assert (colours[0, 0] == colours[0, 1]).all() and (colours[0, 0] == colours[1, 0]).all()
    assert brightness(colours)[1, 1] > brightness(colours)[0, 0]


def test_the_share_of_bright_pixels_is_the_share_of_high_values():
    # rank colouring put about 70% of any map on the bright side; the data here is 10% high
    values = np.zeros((20, 50))
    values[:2] = 1.0
    colours = heat_colors(values)
    bright = brightness(colours) > brightness(VIRIDIS[2:3])[0]
    assert bright.mean() == pytest.approx(0.1)


def test_low_and_high_clip_the_range():
    colours = heat_colors(np.array([[-5.0, 0.0, 5.0, 10.0, 50.0]]), low=0.0, high=10.0)[0]
    assert (colours[0] == colours[1]).all() and (colours[3] == colours[4]).all()
    assert (colours[1] == VIRIDIS[0]).all() and (colours[3] == VIRIDIS[-1]).all()
    assert (heat_colors(np.full((2, 2), 4.0)) == VIRIDIS[0]).all()  # flat data: one colour
    with pytest.raises(ValueError, match="finite"):
        heat_colors(np.array([[0.0, 1.0]]), high=float("inf"))


def test_feature_similarity_is_bright_only_where_features_are_alike(monkeypatch):
    session = DragSession(BlobGenerator(resolution=64), seed=1)
    cx, cy = session.generator.blob_centre(session.latent)
    point = (round(cx) + 4, round(cy))
    drawn = {}

    def record(image, heat=None, points=(), heat_range=(None, None), **kwargs):
        drawn["colours"] = heat_colors(heat, *heat_range)
        return overlay_canvas(image, heat, points, heat_range=heat_range, **kwargs)

    monkeypatch.setattr(teaching, "overlay_canvas", record)
    feature_similarity(session, point)
    light = brightness(drawn["colours"])
    distances = session.feature_distances(point)
    assert light[point[1], point[0]] == light.max()  # the point's own feature: the brightest
    order = np.argsort(distances, axis=None)  # nearer in feature space: never darker
    assert (np.diff(light.ravel()[order]) <= 2).all()  # (2: rounding to whole colour levels)
    assert (light > brightness(VIRIDIS[2:3])[0]).mean() < 0.25  # sharp: most pixels are dark


def test_overlay_and_feature_similarity_canvases():
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    canvas = overlay_canvas(image, heat=np.random.rand(8, 10), points=[(1, 2)], scale=4)
    assert (canvas.width, canvas.height) == (40, 32)
    session = DragSession(BlobGenerator(resolution=32), seed=1)
    canvas = feature_similarity(session, (16, 16), scale=2)
    assert (canvas.width, canvas.height) == (64, 64)
