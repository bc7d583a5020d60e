"""The procedural face world: deterministic, varied, anti-aliased, landmarks true to the drawing."""

import numpy as np
import pytest
import torch
from PIL import Image

import dragwidget.datasets.faces as faces
from dragwidget.datasets.faces import (
    LANDMARK_NAMES,
    FaceDataset,
    FaceParams,
    draw_landmarks,
    face_grid,
    render_batch,
    render_face,
    sample_params,
    with_changes,
)

K = len(LANDMARK_NAMES)
IDX = {name: k for k, name in enumerate(LANDMARK_NAMES)}


def _pixel(image: np.ndarray, point: np.ndarray) -> np.ndarray:
    x, y = np.round(point).astype(int)
    return image[y, x].astype(int)


def test_landmark_names_cover_the_paper_protocol():
    assert K >= 12 and len(set(LANDMARK_NAMES)) == K
    for name in ("left_pupil", "right_pupil", "nose_tip", "chin", "left_mouth_corner"):
        assert name in LANDMARK_NAMES


def test_same_seed_same_face_and_different_seeds_differ():
    a, la = render_face(7, 64)
    b, lb = render_face(7, 64)
    c, lc = render_face(8, 64)
    assert a.dtype == np.uint8 and a.shape == (64, 64, 3)
    assert lb.dtype == np.float32 and la.shape == (K, 2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert sample_params(7) == sample_params(7) != sample_params(8)
    assert np.abs(a.astype(int) - c).mean() > 5
    assert np.abs(la - lc).mean() > 0.5


def test_params_and_seed_render_the_same():
    image, marks = render_face(sample_params(11), 64)
    image2, marks2 = render_face(11, 64)
    np.testing.assert_array_equal(image, image2)
    np.testing.assert_array_equal(marks, marks2)
    assert isinstance(sample_params(11), FaceParams)


def test_landmarks_inside_image_at_every_size():
    for size in (32, 64, 128):
        _, marks = render_batch(range(300, 360), size)
        assert marks.min() >= 0 and marks.max() <= size - 1
        # scale with the image: the same face at twice the size has twice the coordinates
    _, m64 = render_face(5, 64)
    _, m128 = render_face(5, 128)
    np.testing.assert_allclose((m64 + 0.5) * 2 - 0.5, m128, atol=1e-4)


def test_pupils_are_dark_where_eyes_are_open():
    seeds = [s for s in range(1000, 1200) if sample_params(s).eye_open > 0.6][:25]
    assert len(seeds) >= 20
    for seed in seeds:
        image, marks = render_face(seed, 128)
        for name in ("left_pupil", "right_pupil"):
            assert _pixel(image, marks[IDX[name]]).max() < 60, (seed, name)


def test_open_mouth_is_dark_between_the_lip_landmarks():
    seeds = [s for s in range(1000, 1300) if sample_params(s).mouth_open > 0.7][:15]
    assert len(seeds) >= 10
    for seed in seeds:
        image, marks = render_face(seed, 128)
        middle = (marks[IDX["upper_lip_centre"]] + marks[IDX["lower_lip_centre"]]) / 2
        skin = np.array(sample_params(seed).skin)
        assert _pixel(image, middle).sum() < 0.7 * skin.sum(), seed


def test_moving_the_head_moves_drawing_and_landmarks_together():
    base = with_changes(21, background_split=1.0)
    moved = with_changes(base, center_x=base.center_x + 8 / 128, center_y=base.center_y + 3 / 128)
    a, la = render_face(base, 128)
    b, lb = render_face(moved, 128)
    np.testing.assert_allclose(lb - la, np.broadcast_to([8.0, 3.0], la.shape), atol=1e-3)
    # the face (brows to mouth, eye corner to eye corner) is the same picture, 8 px right, 3 down
    x0, x1 = int(la[IDX["left_eye_outer"], 0]), int(la[IDX["right_eye_outer"], 0])
    y0, y1 = int(la[IDX["left_brow_centre"], 1]), int(la[IDX["lower_lip_centre"], 1])
    crop_a = a[y0:y1, x0:x1].astype(int)
    crop_b = b[y0 + 3 : y1 + 3, x0 + 8 : x1 + 8].astype(int)
    assert np.abs(crop_a - crop_b).mean() < 1.0
    assert np.abs(crop_a - a[y0:y1, x0 + 8 : x1 + 8]).mean() > 5  # and the move is visible


def test_pose_and_expression_parameters_move_their_landmarks():
    p = with_changes(33, yaw=0.0, mouth_open=0.0, eye_open=1.0)
    _, m = render_face(p, 128)
    _, turned = render_face(with_changes(p, yaw=0.35), 128)
    _, opened = render_face(with_changes(p, mouth_open=1.0), 128)
    _, shut = render_face(with_changes(p, eye_open=0.0), 128)
    assert turned[IDX["nose_tip"], 0] - m[IDX["nose_tip"], 0] > 4  # the nose turns right
    assert abs(turned[IDX["chin"], 0] - m[IDX["chin"], 0]) < 1e-3  # the outline does not
    lip_gap = opened[IDX["lower_lip_centre"], 1] - opened[IDX["upper_lip_centre"], 1]
    assert lip_gap > 5
    for side in ("left", "right"):
        top, bottom = shut[IDX[f"{side}_eye_top"]], shut[IDX[f"{side}_eye_bottom"]]
        assert np.allclose(top, bottom, atol=1e-4)
        assert m[IDX[f"{side}_eye_bottom"], 1] - m[IDX[f"{side}_eye_top"], 1] > 3


def test_edges_are_anti_aliased():
    flat = with_changes(3, light_strength=0.0, background_split=1.0, blush=False)
    image, marks = render_face(flat, 128)
    colours = len(np.unique(image.reshape(-1, 3), axis=0))
    old = faces.SUPERSAMPLE
    try:
        faces.SUPERSAMPLE = 1
        aliased, _ = render_face(flat, 128)
    finally:
        faces.SUPERSAMPLE = old
    assert len(np.unique(aliased.reshape(-1, 3), axis=0)) < 30  # a handful of flat colours
    assert colours > 4 * len(np.unique(aliased.reshape(-1, 3), axis=0))  # edges blend them
    # the head's left edge on the row of the eyes passes through an in-between value
    row = image[int(marks[IDX["left_eye_outer"], 1])].astype(int)
    bg, skin = np.array(flat.background), np.array(flat.skin)
    between = [(np.abs(px - bg).sum() > 6 and np.abs(px - skin).sum() > 6) for px in row[:64]]
    assert any(between)


def test_batch_and_dataset_agree_with_render_face():
    images, marks = render_batch([4, 9, 16], 32)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert marks.shape == (3, K, 2) and marks.dtype == np.float32
    data = FaceDataset(size=32, length=5, offset=9)
    assert len(data) == 5
    x, m = data[0]
    assert x.shape == (3, 32, 32) and x.dtype == torch.float32
    assert -1.0 <= x.min() and x.max() <= 1.0
    expected = torch.from_numpy(images[1]).permute(2, 0, 1).float() / 127.5 - 1
    torch.testing.assert_close(x, expected)
    torch.testing.assert_close(m, torch.from_numpy(marks[1]))
    with pytest.raises(IndexError):
        data[5]
    batch = next(iter(torch.utils.data.DataLoader(data, batch_size=4)))
    assert batch[0].shape == (4, 3, 32, 32) and batch[1].shape == (4, K, 2)


def test_notebook_helpers():
    grid = face_grid(range(5), 32, columns=3)
    assert isinstance(grid, Image.Image) and grid.size == (96, 64)
    image, marks = render_face(2, 32)
    overlay = draw_landmarks(image, marks, zoom=4)
    assert overlay.size == (128, 128)
    plain = Image.fromarray(image).resize((128, 128), Image.NEAREST)
    assert (np.asarray(overlay) != np.asarray(plain)).any()  # the dots are drawn
    tensor_image = torch.from_numpy(image).permute(2, 0, 1).float() / 127.5 - 1
    assert draw_landmarks(tensor_image, torch.from_numpy(marks), zoom=2).size == (64, 64)


def test_a_latent_draws_the_same_face_whatever_its_scale():
    z = np.random.RandomState(0).randn(64)
    p = faces.params_from_latent(z)
    assert isinstance(p, FaceParams)
    assert p == faces.params_from_latent(z)
    _, marks = render_face(p, 128)
    _, scaled = render_face(faces.params_from_latent(3.0 * z), 128)
    np.testing.assert_allclose(marks, scaled, atol=1e-4)  # the scale is divided out
    assert p != faces.params_from_latent(np.random.RandomState(1).randn(64))
    with pytest.raises(ValueError, match=f"at least {faces.LATENT_DRAWS}"):
        faces.params_from_latent(np.ones(faces.LATENT_DRAWS - 1))


def test_a_small_change_of_the_latent_moves_the_face_a_little():
    rng = np.random.RandomState(2)
    for _ in range(10):
        z = rng.randn(64)
        _, a = render_face(faces.params_from_latent(z), 128)
        _, b = render_face(faces.params_from_latent(z + 0.01 * rng.randn(64)), 128)
        _, c = render_face(faces.params_from_latent(rng.randn(64)), 128)
        assert np.abs(a - b).mean() < 0.25 < np.abs(a - c).mean()


def test_latent_faces_and_seeded_faces_are_drawn_alike():
    """Both read the same draws in the same order: the same distribution of every parameter."""
    rng = np.random.RandomState(3)
    from_latents = [faces.params_from_latent(rng.randn(64)) for _ in range(400)]
    from_seeds = [sample_params(s) for s in range(400)]
    for name in ("yaw", "mouth_open", "eye_open", "center_x", "smile"):
        a = np.array([getattr(p, name) for p in from_latents])
        b = np.array([getattr(p, name) for p in from_seeds])
        assert abs(a.mean() - b.mean()) < 0.1 * (b.std() + 1e-3), name
        assert abs(a.std() - b.std()) < 0.15 * b.std(), name
    styles = {p.hair_style for p in from_latents}
    assert styles == set(faces.HAIR_STYLES)
    two_tone = np.mean([p.background_split < 1 for p in from_latents])
    assert 0.4 < two_tone < 0.6


def test_paired_faces_give_each_image_with_its_latent():
    from dragwidget.train.data import PairedFaces

    images, z = PairedFaces(z_dim=64)([5, 6, 7], 32)
    assert images.shape == (3, 32, 32, 3) and images.dtype == np.uint8
    assert z.shape == (3, 64) and z.dtype == np.float32
    np.testing.assert_array_equal(images[1], render_face(faces.params_from_latent(z[1]), 32)[0])
    again, z_again = PairedFaces(z_dim=64)([6], 32)
    np.testing.assert_array_equal(z_again[0], z[1])
    np.testing.assert_array_equal(again[0], images[1])
