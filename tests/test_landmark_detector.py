"""The shipped landmark detector finds landmarks on unseen faces; the Fréchet distance behaves."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dragwidget.datasets.faces import LANDMARK_NAMES, render_batch
from dragwidget.evaluation.landmarks import (
    WEIGHTS_PATH,
    LandmarkDetector,
    frechet_distance,
    load_detector,
)

HELD_OUT = range(900_000, 900_032)  # training uses seeds from 10**9 on; evaluate() uses 50_000+


def _tensor(images: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1


@pytest.fixture(scope="module")
def detector() -> LandmarkDetector:
    return load_detector()


@pytest.fixture(scope="module")
def faces128():
    images, marks = render_batch(HELD_OUT, 128)
    return _tensor(images), torch.from_numpy(marks)


def test_shipped_weights_are_small_and_load(detector):
    assert WEIGHTS_PATH.stat().st_size < 2 * 1024 * 1024
    assert not detector.training
    assert detector.num_landmarks == len(LANDMARK_NAMES)


def test_detects_unseen_faces_within_a_pixel(detector, faces128):
    images, truth = faces128
    found, confidence = detector.detect(images)
    assert found.shape == truth.shape and confidence.shape == truth.shape[:2]
    error = (found - truth).norm(dim=-1)
    assert error.mean() < 1.0, error.mean()
    assert torch.quantile(error.flatten(), 0.95) < 2.5
    assert ((0 < confidence) & (confidence <= 1)).all()


def test_other_sizes_are_resized_and_mapped_back(detector):
    images, truth = render_batch(HELD_OUT[:16], 64)
    found, _ = detector.detect(_tensor(images))
    assert (found - torch.from_numpy(truth)).norm(dim=-1).mean() < 1.0  # pixels of the 64-px image


def test_confidence_is_lower_without_a_face(detector, faces128):
    images, _ = faces128
    _, on_faces = detector.detect(images[:8])
    _, on_noise = detector.detect(torch.rand(8, 3, 128, 128) * 0.2 - 0.1)
    assert on_faces.min() > 0.5 and on_noise.max() < 0.2


def test_features_shape_and_determinism(detector, faces128):
    images, _ = faces128
    a = detector.features(images[:4])
    assert a.shape == (4, detector.feature_dim)
    torch.testing.assert_close(a, detector.features(images[:4]))


def test_frechet_distance_matches_the_closed_form():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 6)) @ rng.normal(size=(6, 6))
    assert abs(frechet_distance(x, x)) < 1e-8
    # b = 2x + 3: mean moves by mu + 3, covariance becomes 4C, so FD = |mu + 3|^2 + tr(C)
    cov, mu = np.cov(x, rowvar=False), x.mean(0)
    expected = ((mu + 3) ** 2).sum() + np.trace(cov)
    assert frechet_distance(x, 2 * x + 3) == pytest.approx(expected, rel=1e-6)
    assert frechet_distance(torch.from_numpy(x), x + 0.5) > frechet_distance(x, x + 0.1) > 0


def test_frechet_distance_of_features_sees_degraded_images(detector):
    a, _ = render_batch(range(910_000, 910_096), 128)
    b, _ = render_batch(range(920_000, 920_096), 128)
    fa, fb = detector.features(_tensor(a)), detector.features(_tensor(b))
    blocky = F.interpolate(F.avg_pool2d(_tensor(b), 4), scale_factor=4.0, mode="nearest")
    fc = detector.features(blocky)
    assert frechet_distance(fa, fc) > 2 * frechet_distance(fa, fb)


def test_edge_strength_drops_when_images_are_blurred():
    from dragwidget.datasets.faces import render_batch
    from dragwidget.evaluation.sharpness import edge_strength

    images, _ = render_batch(range(20), 128)
    sharp = edge_strength(images)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).float()
    blurred = torch.nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False)
    soft = edge_strength(blurred.round().byte().permute(0, 2, 3, 1).numpy())
    assert sharp > 20 and soft < 0.75 * sharp
    flat = np.full([2, 16, 16, 3], 128, dtype=np.uint8)
    assert edge_strength(flat) == 0
    with pytest.raises(ValueError, match="N, H, W, 3"):
        edge_strength(images[0])
