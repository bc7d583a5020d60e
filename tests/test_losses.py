"""Inversion losses: SSIM and the pixel mixes, and the LPIPS path with random VGG weights.

Nothing is downloaded: the LPIPS code path is run with a randomly initialised VGG16 saved in
torchvision's checkpoint format into a temporary torch hub cache, which is exactly where a user's
machine would have the real weights.
"""

from __future__ import annotations

import pytest
import torch
from conftest import small_stylegan2

from dragwidget.datasets.faces import render_face
from dragwidget.drag import losses
from dragwidget.drag.losses import (
    DEFAULT_PIXEL_LOSS,
    PIXEL_LOSSES,
    PerceptualLoss,
    VGG16Features,
    layout_distance,
    reconstruction_loss,
    ssim,
)
from dragwidget.drag.pti import Inversion


def images(seed: int = 0, size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    a = torch.rand(2, 3, size, size, generator=g) * 2 - 1
    return a, (a + 0.3 * torch.randn(a.shape, generator=g)).clamp(-1, 1)


def test_ssim_is_one_for_equal_images_and_falls_with_noise():
    a, b = images()
    assert torch.allclose(ssim(a, a), torch.ones(2), atol=1e-5)
    assert (ssim(a, b) < 0.9).all()
    assert ssim(a[:, :, :6, :6], b[:, :, :6, :6]).shape == (2,)  # window shrinks to the image


def square(at: int, size: int = 64, side: int = 8) -> torch.Tensor:
    """A dark square on a light ground, its corner at (at, at)."""
    image = torch.ones(1, 3, size, size)
    image[..., at : at + side, at : at + side] = -1
    return image


def test_layout_distance_grows_with_how_far_a_feature_is_off():
    """Pixel by pixel, a square 4 px off is as wrong as one 24 px off; the layout distance grows."""
    target, near, far = square(20, side=4), square(24, side=4), square(44, side=4)
    assert float((near - target).abs().mean()) == float((far - target).abs().mean())
    assert float(layout_distance(target, target)) == 0
    assert 0 < float(layout_distance(near, target)) < 0.7 * float(layout_distance(far, target))
    one_by_one = torch.cat([layout_distance(near, target), layout_distance(far, target)])
    assert torch.allclose(layout_distance(torch.cat([near, far]), target), one_by_one)


def test_layout_distance_means_the_same_at_any_size():
    """Pictures above LAYOUT_SIZE are compared at that size, so the blur covers the same share."""
    small = float(layout_distance(square(20, 128, 16), square(26, 128, 16)))
    large = float(layout_distance(square(40, 256, 32), square(52, 256, 32)))
    assert large == pytest.approx(small, rel=0.1)


@pytest.mark.parametrize("name", list(PIXEL_LOSSES))
def test_pixel_losses_are_zero_only_for_equal_images(name):
    a, b = images()
    loss = reconstruction_loss(name)
    assert torch.allclose(loss(a, a), torch.zeros(2), atol=1e-5)
    assert (loss(a, b) > 0.05).all() and loss(a, b).shape == (2,)
    assert "L1 pyramid" in loss.name


def test_without_vgg_weights_auto_is_the_default_pixel_loss(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    assert reconstruction_loss("auto") is PIXEL_LOSSES[DEFAULT_PIXEL_LOSS]
    with pytest.raises(ValueError, match="never downloads"):
        reconstruction_loss("lpips")
    with pytest.raises(ValueError, match="loss must be one of"):
        reconstruction_loss("psnr")


@pytest.fixture
def random_vgg_cache(monkeypatch, tmp_path):
    """A torch hub cache holding a random VGG16 in torchvision's format, and lpips's linear
    weights in its package layout."""
    torch.manual_seed(0)
    state = VGG16Features().state_dict()
    state["classifier.0.weight"] = torch.zeros(4, 4)  # torchvision's file has the classifier too
    checkpoints = tmp_path / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / losses.VGG16_FILE)
    channels = (64, 128, 256, 512, 512)
    linear = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate(channels)}
    linear_path = tmp_path / "vgg.pth"
    torch.save(linear, linear_path)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(losses, "lpips_linear_checkpoint", lambda: linear_path)
    return state, linear


def test_cached_vgg_weights_make_auto_lpips(random_vgg_cache):
    state, linear = random_vgg_cache
    loss = reconstruction_loss("auto")
    assert isinstance(loss, PerceptualLoss) and loss.name.startswith("LPIPS (VGG16)")
    assert torch.equal(loss.vgg.features[28].weight, state["features.28.weight"])
    assert torch.equal(loss.linear4, linear["lin4.model.1.weight"])
    a, b = images(size=40)
    assert torch.allclose(loss(a, a), torch.zeros(2), atol=1e-6)
    assert (loss(a, b) > 0).all()
    # The LPIPS term alone, checked against the definition on one tap.
    bare = PerceptualLoss(loss.vgg, [getattr(loss, f"linear{i}") for i in range(5)], mse_weight=0)
    scaled = (torch.cat([a, b]) - bare.shift) / bare.scale
    first = loss.vgg.features[:4](scaled)
    unit = first / (first.square().sum(1, keepdim=True).sqrt() + 1e-10)
    tap0 = ((unit[:2] - unit[2:]).square() * bare.linear0).sum(1).mean((1, 2))
    assert (bare(a, b) > tap0).all()  # the other four taps add to the first
    bigger = torch.nn.functional.interpolate(a, scale_factor=8)  # 320 px: compared at 160 px
    assert torch.isfinite(loss(bigger, bigger.flip(-1))).all()
    # A batch of images against one target (projection scores its starting guesses so)
    batch, one = torch.cat([a, b, a]), b[:1]
    each = torch.cat([loss(x[None], one) for x in batch])
    assert torch.allclose(loss(batch, one), each, rtol=1e-5)


@pytest.mark.parametrize("name", list(PIXEL_LOSSES))
def test_pixel_losses_compare_a_batch_with_one_target(name):
    a, b = images()
    loss = reconstruction_loss(name)
    each = torch.cat([loss(a[i : i + 1], b[:1]) for i in range(2)])
    assert torch.allclose(loss(a, b[:1]), each, rtol=1e-5)


def test_the_lpips_path_runs_an_inversion_with_random_weights(random_vgg_cache):
    generator = small_stylegan2(32)
    face = render_face(90_001, 32)[0]
    losses_seen = []
    inversion = Inversion(generator, face, steps=6, tuning_steps=4, tuning_lr=1e-2, loss="lpips")
    result = inversion.run(lambda record: losses_seen.append((record.phase, record.loss)))
    assert result.loss_name.startswith("LPIPS (VGG16)") and result.tuning is not None
    projection = [v for phase, v in losses_seen if phase == "projection"]
    tuning = [v for phase, v in losses_seen if phase == "tuning"]
    assert min(projection) < projection[0] and min(tuning) < tuning[0]


def test_a_file_that_is_not_vgg16_is_refused(tmp_path):
    path = tmp_path / "other.pth"
    torch.save({"features.0.weight": torch.zeros(3, 3, 3, 3)}, path)
    with pytest.raises(ValueError, match="not torchvision's VGG16"):
        losses.load_perceptual_loss(path)
