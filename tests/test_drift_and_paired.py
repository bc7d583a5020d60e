"""The measures behind the drag-method benchmarks: handle drift and paired reconstruction."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from toygen import BlobGenerator

from dragwidget.drag import DragSession
from dragwidget.evaluation.drift import DetectorWatch, DriftRecord, summarize
from dragwidget.evaluation.landmarks import load_detector
from dragwidget.evaluation.paired import (
    feature_correspondences,
    mse,
    nearby_latent,
    perceptual_distance,
)


def record(final_error: float, converged: bool, steps: int = 4) -> DriftRecord:
    """One handle, tracked along x; the detector `final_error` px behind on the last step."""
    tracked = np.zeros((steps, 1, 2), dtype=np.float32)
    tracked[:, 0, 0] = np.arange(steps)
    detected = tracked.copy()
    detected[-1, 0, 0] -= final_error
    return DriftRecord(tracked, detected, converged)


def test_a_false_arrival_is_an_arrival_the_detector_disagrees_with_by_more_than_2_px():
    assert record(2.5, converged=True).false_arrival
    assert not record(1.5, converged=True).false_arrival
    assert not record(5.0, converged=False).false_arrival  # no arrival was declared


def test_summarize_pools_every_step_and_handle_of_every_drag():
    records = [record(3.0, True), record(0.0, True), record(4.0, False)]
    errors = np.concatenate([r.errors.ravel() for r in records])
    assert errors.shape == (12,) and sorted(errors)[-2:] == [3.0, 4.0]
    s = summarize(records)
    assert s.median_px == 0.0 and s.p90_px == pytest.approx(np.percentile(errors, 90))
    assert s.false_arrival_rate == pytest.approx(1 / 3) and s.drags == 3
    with pytest.raises(ValueError, match="at least one drag"):
        summarize([])


def test_detector_watch_records_the_tracked_and_detected_path_of_each_step():
    G = BlobGenerator(resolution=128)
    session = DragSession(G, seed=1, step_size=0.05)
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 6, cy))
    watch = DetectorWatch(load_detector(), [3])
    result = session.run(max_steps=5, on_step=watch, render=True)
    drift = watch.record(result.converged)
    assert drift.tracked.shape == drift.detected.shape == (result.steps, 1, 2)
    assert np.allclose(drift.tracked[-1, 0], result.handles[0])
    assert np.isfinite(drift.errors).all()
    with pytest.raises(ValueError, match="render=True"):
        session.run(max_steps=1, on_step=watch)


def test_nearby_latent_moves_only_the_first_layers():
    torch.manual_seed(0)
    ws, other = torch.randn(1, 8, 4), torch.randn(1, 8, 4)
    moved = nearby_latent(ws, other, layers=3, strength=0.5)
    assert torch.allclose(moved[:, :3], (ws[:, :3] + other[:, :3]) / 2)
    assert torch.equal(moved[:, 3:], ws[:, 3:])
    assert torch.allclose(nearby_latent(ws, other, 8, 1.0), other)
    with pytest.raises(ValueError, match="layers"):
        nearby_latent(ws, other, layers=9)
    with pytest.raises(ValueError, match="strength"):
        nearby_latent(ws, other, strength=0.0)


def test_feature_correspondences_recover_a_known_motion():
    G = BlobGenerator(resolution=64)
    half = 31.5
    ws_1 = torch.zeros(1, 8, 4)
    ws_2 = ws_1.clone()
    ws_2[..., 0] += 3 / float(G.synthesis.scale.detach())  # the blob, and every feature, 3 px right
    ws_2[..., 1] -= 2 / float(G.synthesis.scale.detach())  # and 2 px up
    with torch.no_grad():
        f1, f2 = G.synthesis.features(ws_1), G.synthesis.features(ws_2)
    handles, targets = feature_correspondences(f1, f2, (64, 64), count=10, radius=5)
    assert 3 <= len(handles) <= 10
    assert np.allclose(targets - handles, [3.0, -2.0], atol=1.0)
    assert (np.abs(handles - half) < 32).all()


def test_mse_and_perceptual_distance():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (128, 128, 3), dtype=np.uint8)
    b = np.roll(a, 3, axis=1)
    assert mse(a, a) == 0.0
    assert mse(np.zeros_like(a), np.full_like(a, 255)) == pytest.approx(1.0)
    detector = load_detector()
    assert perceptual_distance(detector, a, a) == pytest.approx(0.0, abs=1e-6)
    d = perceptual_distance(detector, a, b)
    assert d > 0 and d == pytest.approx(perceptual_distance(detector, b, a), rel=1e-5)
