"""DragSession end to end: convergence, latents, history, saving, bad input, threads."""

import math
import threading

import numpy as np
import pytest
import torch
from conftest import small_stylegan2
from toygen import BlobGenerator

from dragwidget.drag import DragBusyError, DragSession
from dragwidget.drag.methods import METHODS


def blob_session(**settings):
    G = BlobGenerator(resolution=64)
    return G, DragSession(G, seed=1, step_size=0.05, **settings)


def test_drag_converges_and_the_content_really_moves():
    G, session = blob_session()
    start = G.blob_centre(session.latent)
    before = session.image()
    target = (start[0] + 12, start[1] - 7)
    session.add_point(start, target)
    result = session.run(max_steps=300)
    assert result.converged and not result.stopped
    assert result.distances[0] <= session.resolved_settings().stop_distance
    assert math.dist(result.handles[0], target) <= 1.0
    end = G.blob_centre(session.latent)
    # The blob itself went where the handle went: the right answer of this generator.
    assert math.dist(end, target) < 1.5
    after = session.image()
    brightest = np.unravel_index(after[..., 0].argmax(), after.shape[:2])
    assert math.dist((brightest[1], brightest[0]), target) <= 2
    assert not np.array_equal(before, after)


@pytest.mark.parametrize("tracking", ["l1", "l2"])
def test_both_tracking_metrics_converge_with_two_points(tracking):
    G, session = blob_session(tracking=tracking)
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx - 3, cy), (cx + 5, cy + 4))
    session.add_point((cx + 3, cy), (cx + 11, cy + 4))
    result = session.run(max_steps=300)
    assert result.converged


def test_gradients_reach_only_the_free_layers(stylegan2_64):
    session = DragSession(stylegan2_64, seed=3, free_layers=4)
    before = session.latent
    session.add_point((20, 30), (40, 30))
    for _ in range(3):
        session.step()
    after = session.latent
    assert not torch.equal(after[:, :4], before[:, :4])
    assert torch.equal(after[:, 4:], before[:, 4:])
    assert all(not p.requires_grad for p in stylegan2_64.parameters())
    assert all(p.grad is None for p in stylegan2_64.parameters())


def test_w_space_moves_the_free_layers_together(stylegan2_64):
    session = DragSession(stylegan2_64, seed=3, latent_space="w", free_layers=6)
    session.add_point((20, 30), (40, 30))
    session.step()
    session.step()
    ws = session.latent
    assert torch.equal(ws[:, 0], ws[:, 5])
    assert not torch.equal(ws[:, 0], ws[:, 6])


def test_seed_gives_the_official_initial_latent(stylegan2_64):
    z = torch.from_numpy(np.random.RandomState(7).randn(1, 64)).float()
    expected = stylegan2_64.mapping(z, truncation_psi=0.7)
    assert torch.allclose(DragSession(stylegan2_64, seed=7).latent, expected)


def test_step_renders_the_image_it_tracked_on(stylegan2_64):
    session = DragSession(stylegan2_64, seed=0)
    session.add_point((20, 20), (30, 25))
    first_image = session.image()
    record = session.step(render=True)
    assert record.step == 1 and record.image.shape == (64, 64, 3)
    assert np.array_equal(record.image, first_image)
    assert record.loss > 0 and not record.done


@pytest.mark.parametrize("kind", ["stylegan2", "a generator without features_then_image"])
def test_step_image_draws_the_last_steps_frame_on_demand(kind):
    G = small_stylegan2(64) if kind == "stylegan2" else BlobGenerator(resolution=64)
    session = DragSession(G, seed=0, step_size=0.05)
    session.add_point((20, 20), (40, 30))
    with pytest.raises(ValueError, match="no step"):
        session.step_image()
    first = session.step(render=True)
    assert np.array_equal(session.step_image(), first.image)
    second = session.step()
    assert second.image is None
    drawn = session.step_image()  # the image step 2 tracked on: step 1's update shows in it
    assert drawn.shape == (64, 64, 3) and not np.array_equal(drawn, first.image)
    session.finish()
    with pytest.raises(ValueError, match="no step"):
        session.step_image()


@pytest.mark.parametrize("method", sorted(METHODS))
def test_computing_the_features_near_the_handles_only_changes_nothing(method):
    # After the first step, a step computes the feature block only where its method reads it.
    import copy

    G = small_stylegan2(64)
    dense = copy.deepcopy(G)
    dense.synthesis.feature_windows = False
    windows = []
    crop_block = G.synthesis._window
    G.synthesis._window = lambda *args: windows.append(args[-1]) or crop_block(*args)
    sessions = [DragSession(g, seed=3, step_size=0.01, method=method) for g in (G, dense)]
    for session in sessions:
        session.add_point((20, 24), (34, 30))
        session.add_point((28, 18), (30, 8))
    for _ in range(12):
        records = [session.step(render=True) for session in sessions]
        # Sub-pixel trackers (StableDrag's and PatchDrag's peak refinement) see the float noise
        # of another sum, and pass it on to the loss read at the handles (1.6e-4 by step 12).
        assert np.allclose(records[0].handles, records[1].handles, rtol=0, atol=1e-4)
        difference = records[0].image.astype(int) - records[1].image  # rounding, at most
        assert np.abs(difference).max() <= 1 and records[0].loss == pytest.approx(
            records[1].loss, rel=1e-3
        )
    assert len(windows) == 11 and all(w != (0, 64, 0, 64) for w in windows)
    assert torch.allclose(sessions[0].latent, sessions[1].latent, atol=1e-5)


def test_weights_are_taken_as_constant_only_while_a_drag_is_open(stylegan2_64):
    session = DragSession(stylegan2_64, seed=0)
    session.add_point((20, 20), (40, 30))
    layer = stylegan2_64.synthesis.b16.conv0
    assert layer._weight_cache is None
    session.step()
    assert layer._weight_cache  # the drag keeps what derives from the weights alone
    session.finish()
    assert layer._weight_cache is None


def test_mask_holds_the_fixed_area():
    def drift(mask_weight):
        G, session = blob_session(mask_weight=mask_weight)
        cx, cy = G.blob_centre(session.latent)
        mask = np.zeros((64, 64), dtype=bool)
        mask[:, : int(cx) + 4] = True  # only the left part may change
        session.set_mask(mask)
        before = session.image().astype(float)
        session.add_point((cx, cy), (cx - 10, cy))
        session.run(max_steps=40)
        return np.abs(session.image().astype(float) - before)[:, int(cx) + 8 :].mean()

    assert drift(200.0) < drift(0.0)


def test_undo_redo_and_new_image(stylegan2_64):
    session = DragSession(stylegan2_64, seed=0)
    original = session.image()
    session.add_point((20, 20), (30, 25))
    session.run(max_steps=5)
    dragged = session.image()
    assert not np.array_equal(original, dragged) and len(session.history) == 1
    session.new_image(5)
    assert session.seed == 5 and session.points == []
    assert session.undo() and session.seed == 0
    assert np.array_equal(session.image(), dragged)
    assert session.undo()
    assert np.array_equal(session.image(), original)
    assert session.points == [((20.0, 20.0), (30.0, 25.0))]
    assert not session.undo()
    assert session.redo() and np.array_equal(session.image(), dragged)
    session.add_point((10, 10), (12, 12))  # an edit after undo keeps the redo stack...
    session.run(max_steps=2)  # ...until a new drag replaces it
    assert not session.can_redo


def test_save_and_load_restore_the_same_image_bit_for_bit(tmp_path, stylegan2_64):
    session = DragSession(stylegan2_64, seed=4, step_size=3e-3, tracking="l2")
    session.add_point((20, 20), (30, 25))
    mask = np.zeros((64, 64), dtype=bool)
    mask[10:40, 10:40] = True
    session.set_mask(mask)
    session.run(max_steps=4)
    session.add_point((40, 40), (44, 38))
    session.run(max_steps=3)
    session.undo()
    path = session.save(tmp_path / "edit.dragwidget")
    assert path.stat().st_size < 100_000
    restored = DragSession.load(path, stylegan2_64)
    assert np.array_equal(restored.image(), session.image())
    assert restored.points == session.points and restored.seed == 4
    assert np.array_equal(restored.mask, mask)
    assert restored.settings == session.settings
    assert len(restored.history) == 1 and restored.can_redo
    restored.redo()
    session.redo()
    assert np.array_equal(restored.image(), session.image())


def test_load_refuses_a_session_of_another_model(tmp_path, stylegan2_64):
    path = DragSession(stylegan2_64).save(tmp_path / "a.dragwidget")
    with pytest.raises(ValueError, match="num_ws"):
        DragSession.load(path, small_stylegan2(32))
    (tmp_path / "junk").write_bytes(b"not a session")
    with pytest.raises(ValueError, match="not a dragwidget session"):
        DragSession.load(tmp_path / "junk", stylegan2_64)


@pytest.mark.parametrize(
    "handle, message",
    [
        ((64, 10), r"outside the image: x must be in \[0, 63\]"),
        ((-1, 10), "outside the image"),
        ((10, float("nan")), "not a finite point"),
        (("a", 3), "pair of numbers"),
        ((1, 2, 3), "pair of numbers"),
    ],
)
def test_bad_points_are_refused_and_nothing_changes(stylegan2_64, handle, message):
    session = DragSession(stylegan2_64)
    session.add_point((1, 1), (2, 2))
    with pytest.raises(ValueError, match=message):
        session.add_point(handle, (5, 5))
    with pytest.raises(ValueError, match=message):
        session.move_point(0, target=handle)
    assert session.points == [((1.0, 1.0), (2.0, 2.0))]


@pytest.mark.parametrize(
    "mask, message",
    [
        (np.zeros((64, 32), dtype=bool), r"shape \(height, width\) = \(64, 64\)"),
        (np.full((64, 64), 0.5), "dtype float64"),
        (np.full((64, 64), 3), "integers 0/1"),
    ],
)
def test_bad_masks_are_refused(stylegan2_64, mask, message):
    session = DragSession(stylegan2_64)
    with pytest.raises(ValueError, match=message):
        session.set_mask(mask)
    assert session.mask is None


def test_bad_settings_and_empty_drags_are_refused(stylegan2_64):
    session = DragSession(stylegan2_64)
    for change, message in [
        ({"step_size": -1}, "step_size must be > 0"),
        ({"step_size": float("nan")}, "step_size must be a finite number"),
        ({"tracking": "l3"}, "tracking must be 'l1' or 'l2'"),
        ({"latent_space": "z"}, "latent_space must be 'w' or 'w\\+'"),
        ({"feature_layer": "b7"}, "feature_layer must be one of"),
        ({"max_steps": 0}, "max_steps must be an integer"),
        ({"radius": 3}, "unknown setting"),
        ({"r1": 2000}, r"r1 must be in \(0, 64\]"),
        ({"r1": 1e9}, r"r1 must be in \(0, 64\]"),
        ({"r2": 65}, r"r2 must be an integer in \[1, 64\]"),
    ]:
        with pytest.raises(ValueError, match=message):
            session.update_settings(**change)
    assert session.settings.step_size is None  # unchanged: still the method's own
    assert session.resolved_settings().step_size == METHODS[session.settings.method].step_size
    with pytest.raises(ValueError, match="add at least one handle/target pair"):
        session.step()
    with pytest.raises(ValueError, match="add at least one handle/target pair"):
        session.run()
    with pytest.raises(ValueError, match="no point with index 0"):
        session.remove_point(0)


def test_stop_takes_effect_within_one_step():
    G, session = blob_session()
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 20, cy))
    seen = []

    def on_step(record):
        seen.append(record.step)
        if record.step == 3:
            session.stop()

    result = session.run(max_steps=100, on_step=on_step)
    assert result.stopped and result.steps == 3 and seen == [1, 2, 3]
    assert len(session.history) == 1


def test_editing_while_a_drag_runs_in_another_thread_is_refused():
    G, session = blob_session()
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 20, cy))
    started, release = threading.Event(), threading.Event()

    def on_step(record):
        started.set()
        release.wait(5)

    worker = threading.Thread(target=session.run, kwargs={"max_steps": 2, "on_step": on_step})
    worker.start()
    assert started.wait(5)
    with pytest.raises(DragBusyError):
        session.add_point((1, 1), (2, 2))
    with pytest.raises(DragBusyError):
        session.run()
    release.set()
    worker.join(5)
    assert session.add_point((1, 1), (2, 2)) == 1


def test_a_nan_step_is_refused_and_the_last_good_state_kept():
    G, session = blob_session()
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 20, cy))
    session.step()
    session.step()
    good = session.latent
    with torch.no_grad():
        G.synthesis.scale.fill_(float("nan"))
    with pytest.raises(FloatingPointError, match="NaN"):
        session.step()
    assert torch.equal(session.latent, good)
    with torch.no_grad():
        G.synthesis.scale.fill_(8.0)
    session.finish()
    assert len(session.history) == 1 and torch.equal(session.latent, good)


def test_feature_distances_find_the_point_and_its_blob():
    G, session = blob_session()
    cx, cy = G.blob_centre(session.latent)
    distances = session.feature_distances((round(cx), round(cy)))
    assert distances.shape == (64, 64)
    y, x = np.unravel_index(distances.argmin(), distances.shape)
    assert abs(x - round(cx)) <= 1 and abs(y - round(cy)) <= 1
    with pytest.raises(ValueError, match="outside the image"):
        session.feature_distances((99, 0))


def test_a_step_that_would_make_the_latent_infinite_is_not_applied_and_the_history_saves(
    tmp_path,
):
    G, session = blob_session()
    cx, cy = G.blob_centre(session.latent)
    session.add_point((cx, cy), (cx + 20, cy))
    session.step()
    good = session.latent
    session.update_settings(step_size=1e300)  # a valid setting: the step itself must refuse
    session.add_point((cx, cy + 3), (cx + 20, cy + 3))  # commits the first drag
    with pytest.raises(FloatingPointError, match="the step was not applied"):
        session.step()
    assert torch.equal(session.latent, good) and torch.isfinite(session.latent).all()
    session.finish()
    again = DragSession.load(session.save(tmp_path / "s.dragwidget"), G)
    assert torch.equal(again.latent, good) and len(again.history) == 1


def test_seeds_and_truncation_are_checked_as_numpy_takes_them():
    G, session = blob_session()
    for seed in (-1, 2**32, 1.5, True, "3"):
        with pytest.raises(ValueError, match="seed must be an integer in"):
            session.new_image(seed)
    session.new_image(2**32 - 1)
    assert session.seed == 2**32 - 1
    for psi in (float("nan"), float("inf"), "0.7", None):
        with pytest.raises(ValueError, match="truncation_psi must be a finite number"):
            DragSession(G, truncation_psi=psi)
