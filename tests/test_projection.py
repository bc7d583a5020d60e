"""Real-image editing: a picture is inverted into the generator, then dragged like any image."""

import math

import numpy as np
import pytest
import torch
from conftest import small_stylegan2
from PIL import Image
from toygen import BlobGenerator

from dragwidget.drag import DragSession
from dragwidget.drag.projection import image_to_tensor, project


def test_projection_recovers_a_known_image():
    G = BlobGenerator(resolution=32)
    truth = DragSession(G, seed=9)
    centre = G.blob_centre(truth.latent)
    session = DragSession.from_image(G, truth.image("pil"), steps=150)
    assert math.dist(G.blob_centre(session.latent), centre) < 1.0
    assert np.abs(session.image().astype(int) - truth.image().astype(int)).mean() < 4
    # ...and the result is an ordinary session: it drags and undoes.
    session.add_point(centre, (centre[0] + 4, centre[1]))
    session.run(max_steps=50)
    assert session.undo() and session.seed is None


def test_projection_on_a_stylegan2_lowers_the_loss_and_reports_progress():
    G = small_stylegan2(32)
    target = DragSession(G, seed=5).image()
    losses = []
    ws = project(G, target, steps=15, on_step=lambda step, loss: losses.append(loss))
    assert ws.shape == (1, G.num_ws, G.w_dim) and len(losses) == 30
    assert min(losses[-5:]) < 0.8 * losses[0]


def test_pictures_of_any_size_and_mode_are_accepted_and_junk_is_named():
    size = (16, 24)
    grey = Image.new("L", (100, 50), 128)
    tensor = image_to_tensor(grey, size, torch.device("cpu"))
    assert tensor.shape == (1, 3, 16, 24) and torch.allclose(
        tensor, torch.tensor(128 / 127.5 - 1), atol=1e-6
    )
    with pytest.raises(ValueError, match="uint8"):
        image_to_tensor(np.zeros((4, 4, 3), dtype=np.float32), size, torch.device("cpu"))
    with pytest.raises(ValueError, match="PIL image"):
        image_to_tensor("picture.png", size, torch.device("cpu"))
    with pytest.raises(ValueError, match="steps"):
        project(BlobGenerator(32), grey, steps=0)
