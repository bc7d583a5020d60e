"""The drag methods' pieces, on the blob generator whose right answer is known (tests/toygen.py).

The blob's features are a smooth bump centred where the latent says: moving the blob by a known
amount gives the features a method should find, and a blob that did not move is a motion that
failed.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from toygen import BlobGenerator

from dragwidget.drag import DragSession, steps
from dragwidget.drag.methods import (
    METHODS,
    DragGAN,
    FreeDrag,
    PatchDrag,
    StableDrag,
    create_method,
)
from dragwidget.drag.methods.base import disc_patches, refine_peak
from dragwidget.drag.methods.freedrag import line_search, template_update_weight
from dragwidget.drag.methods.patchdrag import block_distances
from dragwidget.drag.methods.stabledrag import confidence_anchor, fit_filters, trust

SIZE = 64
IMG = (SIZE, SIZE)
G = BlobGenerator(resolution=SIZE)


def blob_features(centre: tuple[float, float]) -> torch.Tensor:
    """The blob generator's feature block with the blob centred at `centre` (x, y) pixels."""
    half = (SIZE - 1) / 2
    ws = torch.zeros(1, G.num_ws, G.w_dim)
    ws[..., 0] = (centre[0] - half) / float(G.synthesis.scale.detach())
    ws[..., 1] = (centre[1] - half) / float(G.synthesis.scale.detach())
    with torch.no_grad():
        return G.synthesis.features(ws)


def make(cls, centre, target, r1=2.0, r2=4):
    handles = torch.tensor([centre], dtype=torch.float32)
    targets = torch.tensor([target], dtype=torch.float32)
    return cls(blob_features(centre), handles, targets, IMG, r1, r2, "l1"), handles


# ----- every method, end to end ----------------------------------------------------------------


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_drags_the_blob_to_the_target(method):
    session = DragSession(G, seed=1, step_size=0.05, method=method)
    start = G.blob_centre(session.latent)
    target = (start[0] + 10, start[1] - 6)
    session.add_point(start, target)
    result = session.run(max_steps=300)
    assert result.converged
    # The content went where the handle says it went: the right answer of this generator.
    assert math.dist(G.blob_centre(session.latent), target) < 1.5
    assert math.dist(G.blob_centre(session.latent), result.handles[0]) < 1.5


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_method_reports_the_tracked_path_step_by_step(method):
    session = DragSession(G, seed=1, step_size=0.05, method=method)
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 8, cy))
    records = [session.step() for _ in range(12)]
    path = session.trajectory
    assert len(path) == 12 and path == [r.handles for r in records]
    assert path[-1][0][0] > cx + 1  # the path goes toward the target
    assert session.points[0][0] == tuple(path[-1][0])


def test_method_is_a_validated_setting_that_survives_save_and_load(tmp_path):
    session = DragSession(G, seed=1)
    assert session.settings.method in METHODS
    with pytest.raises(ValueError, match="method must be one of"):
        session.update_settings(method="dragdiffusion")
    with pytest.raises(ValueError, match="method must be one of"):
        session.update_settings(method=["freedrag"])
    session.update_settings(method="freedrag")
    session.save(tmp_path / "s.dragwidget")
    assert DragSession.load(tmp_path / "s.dragwidget", G).settings.method == "freedrag"
    with pytest.raises(ValueError, match="method must be one of"):
        create_method("nope", blob_features((30, 30)), torch.zeros(1, 2), torch.ones(1, 2),
                      IMG, 1.0, 2, "l1")  # fmt: skip


# ----- DragGAN ----------------------------------------------------------------------------------


def test_draggan_is_nearest_neighbour_tracking_of_the_first_feature():
    method, handles = make(DragGAN, (30.0, 32.0), (40.0, 32.0))
    moved = blob_features((32.0, 31.0))
    found = method.track(moved, handles)
    reference = steps.sample_features(blob_features((30.0, 32.0)), handles, IMG)
    assert torch.equal(found, steps.track_points(moved, handles, reference, 4, IMG, "l1"))
    assert torch.allclose(found, torch.tensor([[32.0, 31.0]]))


# ----- FreeDrag ---------------------------------------------------------------------------------


def test_template_update_weight_takes_new_features_only_after_a_motion_that_succeeded():
    losses = torch.tensor([0.0, 0.1, 0.25, 0.5, 1.0])
    weight = template_update_weight(losses, alpha=10.0, beta=0.25)
    assert weight[0] > 0.9 and weight[-1] < 0.001
    assert torch.isclose(weight[2], torch.tensor(0.5))
    assert torch.all(weight[1:] < weight[:-1])  # the worse the motion, the less it is learned


def test_a_motion_that_succeeded_moves_the_handle_and_refreshes_the_template():
    method, handles = make(FreeDrag, (30.0, 32.0), (40.0, 32.0))
    d = method.step_length
    first = method.template.clone()
    # The content (the blob) arrived at s exactly, and looks a little different there.
    arrived = 1.02 * blob_features((30.0 + d, 32.0))
    found = method.track(arrived, handles)
    assert torch.allclose(found, torch.tensor([[30.0 + d, 32.0]]))
    assert int(method.motion_steps) == 0  # a new motion begins
    new = disc_patches(arrived, found, method.r1, IMG)
    relative = (new - first).abs().mean() / method.scale
    weight = template_update_weight(relative, method.alpha, method.beta)
    assert weight > 0.8
    assert torch.allclose(method.template, weight * new + (1 - weight) * first, atol=1e-6)


def test_a_motion_that_failed_keeps_the_template_and_the_handle():
    method, handles = make(FreeDrag, (30.0, 32.0), (40.0, 32.0))
    first = method.template.clone()
    unmoved = blob_features((30.0, 32.0))
    for _ in range(method.max_motion_steps):
        found = method.track(unmoved, handles)
    assert int(method.motion_steps) == 0  # the motion ended, out of steps
    assert torch.allclose(method.template, first, atol=1e-3 * float(first.abs().max()))
    assert torch.allclose(found, handles)


def test_a_motion_in_progress_changes_nothing():
    method, handles = make(FreeDrag, (30.0, 32.0), (40.0, 32.0))
    first = method.template.clone()
    found = method.track(blob_features((30.2, 32.0)), handles)  # hardly moved, steps remain
    assert int(method.motion_steps) == 1
    assert torch.equal(method.template, first) and torch.allclose(found, handles)


def test_the_handle_stays_on_the_line_when_the_content_slides_sideways():
    method, handles = make(FreeDrag, (30.0, 32.0), (40.0, 32.0))
    for _ in range(method.max_motion_steps):
        found = method.track(blob_features((31.0, 35.0)), handles)
    assert found[0, 1] == 32.0  # on the line y = 32: no sideways slide
    assert 30.0 <= float(found[0, 0]) <= 31.0 + 1e-6


def line_setup(content_at: float):
    """A handle 3 px along the line y = 32 from x = 20, the blob `content_at` px along it."""
    template = disc_patches(blob_features((20.0, 32.0)), torch.tensor([[20.0, 32.0]]), 2.0, IMG)
    features = blob_features((20.0 + content_at, 32.0))
    return dict(
        features=features, template=template, origins=torch.tensor([[20.0, 32.0]]),
        directions=torch.tensor([[1.0, 0.0]]), lengths=torch.tensor([10.0]),
        radius=2.0, img_size=IMG,
    )  # fmt: skip


@pytest.mark.parametrize("content_at", [2.0, 2.5, 3.0, 4.0])
def test_line_search_finds_the_content_and_backtracks_when_it_went_back(content_at):
    progress, d = 3.0, 1.0
    low, high = torch.tensor([progress - d]), torch.tensor([progress + d])
    found, _ = line_search(**line_setup(content_at), low=low, high=high)
    assert float(found) == pytest.approx(content_at)  # 2.0 and 2.5: behind the handle


def test_line_search_never_counts_a_featureless_stretch_as_progress():
    setup = line_setup(3.0)
    setup["features"] = torch.ones_like(setup["features"])  # nothing to tell positions apart
    found, _ = line_search(**setup, low=torch.tensor([2.0]), high=torch.tensor([4.0]))
    assert float(found) == 2.0


def test_line_search_stays_between_the_line_ends():
    found, _ = line_search(**line_setup(0.0), low=torch.tensor([-1.0]), high=torch.tensor([1.0]))
    assert float(found) == 0.0
    found, _ = line_search(**line_setup(10.0), low=torch.tensor([9.0]), high=torch.tensor([11.0]))
    assert float(found) == 10.0


def test_a_handle_whose_content_is_lost_steps_back():
    method, handles = make(FreeDrag, (30.0, 32.0), (40.0, 32.0))
    d = method.step_length
    for _ in range(method.max_motion_steps):  # a motion that succeeded: one step on
        method.track(blob_features((30.0 + d, 32.0)), handles)
    assert float(method.progress) == pytest.approx(d)
    gone = blob_features((50.0, 50.0))  # the blob went far off the line: nothing matches
    for _ in range(method.max_motion_steps):
        found = method.track(gone, handles)
    assert float(method.progress) == 0.0 and torch.allclose(found, handles)


# ----- StableDrag --------------------------------------------------------------------------------


def test_the_fitted_filter_responds_most_at_the_handle():
    method, handles = make(StableDrag, (30.0, 32.0), (40.0, 32.0))
    response = method.responses(method.samples(blob_features((30.0, 32.0)), handles))
    assert int(response.argmax()) == method.centre
    peak_over_mean = response[0, method.centre] - response.mean()
    assert float(peak_over_mean) == pytest.approx(float(method.peak))


def test_fit_filters_solves_the_ridge_problem():
    torch.manual_seed(0)
    samples, label = torch.randn(2, 9, 5), torch.rand(9)
    filters = fit_filters(samples, label, ridge=0.1)
    lam = 0.1 * samples.square().sum(dim=2).mean(dim=1)
    for i in range(2):
        x = samples[i]
        direct = torch.linalg.solve(x.T @ x + lam[i] * torch.eye(5), x.T @ label)
        assert torch.allclose(filters[i], direct, atol=1e-4)


@pytest.mark.parametrize("shift", [(2.0, 0.0), (-1.0, 2.0), (0.5, 0.0), (1.25, -0.5)])
def test_the_tracker_finds_a_known_motion_to_a_fraction_of_a_pixel(shift):
    method, handles = make(StableDrag, (30.0, 32.0), (40.0, 32.0))
    moved = blob_features((30.0 + shift[0], 32.0 + shift[1]))
    found = method.track(moved, handles)
    assert torch.allclose(found, handles + torch.tensor(shift), atol=0.2)
    assert float(method.confidence) > 0.8


def test_the_tracker_loses_confidence_when_the_content_is_gone():
    method, handles = make(StableDrag, (30.0, 32.0), (40.0, 32.0))
    method.track(torch.zeros(1, 5, SIZE, SIZE), handles)
    assert float(method.confidence) < 0.1
    filters = method.filters.clone()
    method.track(blob_features((50.0, 50.0)) * 0.01, handles)  # barely anything: no refit
    assert torch.equal(method.filters, filters)


def test_refine_peak_finds_the_vertex_of_a_parabola():
    xs = torch.arange(5.0)
    grid = -((xs[None, :] - 2.3) ** 2) - (xs[:, None] - 1.8) ** 2
    best = grid.flatten().argmax()[None]
    offset = refine_peak(grid.flatten()[None], best, 5)
    assert torch.allclose(offset, torch.tensor([[0.3, -0.2]]), atol=1e-5)


def test_trust_is_a_ramp_between_the_band_ends():
    confidence = torch.tensor([0.0, 0.4, 0.6, 0.8, 1.3])
    assert torch.allclose(trust(confidence, 0.4, 0.8), torch.tensor([0.0, 0.0, 0.5, 1.0, 1.0]))


def test_confidence_weighting_chooses_what_the_disc_is_pulled_toward():
    current, initial = torch.ones(3, 5, 2), torch.zeros(3, 5, 2)
    anchor = confidence_anchor(current, initial, torch.tensor([1.0, 0.0, 0.25]))
    assert torch.equal(anchor[0], current[0]) and torch.equal(anchor[1], initial[1])
    assert torch.allclose(anchor[2], torch.full((5, 2), 0.25))


def test_a_confident_tracker_pulls_like_draggan_and_an_unsure_one_toward_the_first_image():
    stable, handles = make(StableDrag, (30.0, 32.0), (40.0, 32.0))
    paper, _ = make(DragGAN, (30.0, 32.0), (40.0, 32.0))
    changed = blob_features((31.0, 33.0)).requires_grad_(True)
    active = torch.tensor([True])
    stable.confidence = torch.tensor([1.0])
    assert torch.allclose(
        stable.motion_loss(changed, handles, active), paper.motion_loss(changed, handles, active)
    )
    stable.confidence = torch.tensor([0.0])
    unsure = steps.motion_supervision_loss(
        changed, handles, stable.targets, stable.r1, IMG, active, anchor=stable.initial_patch
    )
    assert torch.allclose(stable.motion_loss(changed, handles, active), unsure)
    assert not torch.allclose(unsure, paper.motion_loss(changed, handles, active))


# ----- PatchDrag ---------------------------------------------------------------------------------


def test_block_distances_are_each_blocks_squared_distance_to_its_own_template():
    torch.manual_seed(0)
    region, template = torch.randn(2, 3, 7, 7), torch.randn(2, 3, 3, 3)
    distances = block_distances(region, template)
    assert distances.shape == (2, 5, 5)
    for n in range(2):
        for y in range(5):
            for x in range(5):
                block = region[n, :, y : y + 3, x : x + 3]
                expected = (block - template[n]).square().sum()
                assert float(distances[n, y, x]) == pytest.approx(float(expected), rel=1e-4)


@pytest.mark.parametrize("shift", [(2.0, 0.0), (-1.0, 2.0), (0.5, 0.0), (1.25, -0.5)])
def test_block_matching_finds_a_known_motion_to_a_fraction_of_a_pixel(shift):
    method, handles = make(PatchDrag, (30.0, 32.0), (40.0, 32.0))
    found = method.track(blob_features((30.0 + shift[0], 32.0 + shift[1])), handles)
    assert torch.allclose(found, handles + torch.tensor(shift), atol=0.2)


def bar_features(right_end: float) -> torch.Tensor:
    """A horizontal bar along y = 32 that ends at x = `right_end`: an edge whose points look
    alike, the aperture problem in one picture."""
    ys, xs = torch.meshgrid(torch.arange(float(SIZE)), torch.arange(float(SIZE)), indexing="ij")
    along = torch.sigmoid(8.0 * (right_end - xs)) * torch.sigmoid(8.0 * (xs - 8.0))
    across = torch.exp(-((ys - 32.0) ** 2) / 8.0)
    return torch.stack([along * across, 0.5 * along * across])[None]


def test_a_block_does_not_slide_along_an_edge_where_a_point_does():
    """The bar moves 2 px right. The handle, 3 px from its end, has a twin at every point of the
    bar: DragGAN's search takes one of them; the block, which reaches the end, finds the
    handle's own place."""
    start, moved = bar_features(45.0), bar_features(47.0)
    handles = torch.tensor([[42.0, 32.0]])
    targets = torch.tensor([[52.0, 32.0]])
    truth = torch.tensor([[44.0, 32.0]])
    block = PatchDrag(start, handles, targets, IMG, 1.0, 3, "l2").track(moved, handles)
    point = DragGAN(start, handles, targets, IMG, 1.0, 3, "l2").track(moved, handles)
    assert torch.allclose(block, truth, atol=0.25)
    assert float((point - truth).norm()) > 1.0


def test_patchdrag_takes_longer_steps_and_stops_closer_than_draggan_unless_told():
    session = DragSession(G, seed=0, method="patchdrag")
    session.add_point((30, 32), (40, 32))
    resolved = session.resolved_settings()
    assert resolved.stop_distance == PatchDrag.stop_distance(1) < 1.0
    session.add_point((20, 20), (20, 30))
    assert session.resolved_settings().stop_distance == 1.0  # more handles: the last half pixel
    session.remove_point(1)
    assert resolved.step_size == PatchDrag.step_size > 2e-3
    session.update_settings(method="draggan")
    assert session.resolved_settings().stop_distance == 1.0
    assert session.resolved_settings().step_size == 2e-3  # the paper's
    session.update_settings(stop_distance=0.25, step_size=1e-3, method="patchdrag")
    resolved = session.resolved_settings()
    assert (resolved.stop_distance, resolved.step_size) == (0.25, 1e-3)


def test_methods_track_without_touching_the_features():
    for cls in METHODS.values():
        method, handles = make(cls, (30.0, 32.0), (40.0, 32.0))
        features = blob_features((31.0, 32.0))
        before = features.clone()
        method.track(features, handles)
        assert torch.equal(features, before)
        assert np.isfinite(float(method.motion_loss(features, handles, torch.tensor([True]))))
