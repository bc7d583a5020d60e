"""The ipycanvas teaching views: what they draw is the session's, at the requested scale."""

import numpy as np
from toygen import BlobGenerator

from dragwidget.drag import DragSession
from dragwidget.widget.teaching import feature_similarity, heat_colors, overlay_canvas


def test_heat_colors_rank_low_bright_and_high_dark():
    values = np.array([[0.0, 1.0], [1000.0, 2.0]])
    colors = heat_colors(values).astype(int)
    brightness = colors.sum(axis=2)
    assert brightness[0, 0] > brightness[0, 1] > brightness[1, 1] > brightness[1, 0]


def test_overlay_and_feature_similarity_canvases():
    image = np.zeros((8, 10, 3), dtype=np.uint8)
    canvas = overlay_canvas(image, heat=np.random.rand(8, 10), points=[(1, 2)], scale=4)
    assert (canvas.width, canvas.height) == (40, 32)
    session = DragSession(BlobGenerator(resolution=32), seed=1)
    canvas = feature_similarity(session, (16, 16), scale=2)
    assert (canvas.width, canvas.height) == (64, 64)
