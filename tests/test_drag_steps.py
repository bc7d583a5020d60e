"""The step math on plain tensors: sampling, tracking, motion supervision, mask."""

import pytest
import torch
import torch.nn.functional as F

from dragwidget.drag import steps


def smooth_random_map(channels=16, size=32, seed=0):
    torch.manual_seed(seed)
    noise = torch.randn(1, channels, size, size)
    return F.avg_pool2d(F.pad(noise, [2, 2, 2, 2], mode="circular"), 5, stride=1)


def test_sampling_the_native_map_equals_upsampling_it_first():
    features = smooth_random_map(size=16)
    img_size = (64, 64)
    upsampled = F.interpolate(features, size=img_size, mode="bilinear", align_corners=False)
    points = torch.tensor([[0.0, 0.0], [5.0, 9.0], [31.0, 40.0], [63.0, 63.0]])
    sampled = steps.sample_features(features, points, img_size)
    expected = upsampled[0, :, points[:, 1].long(), points[:, 0].long()].t()
    assert torch.allclose(sampled, expected, atol=1e-5)


def test_sampling_is_bilinear_between_pixels():
    features = smooth_random_map(size=32)
    a = steps.sample_features(features, torch.tensor([[10.0, 7.0]]), (32, 32))
    b = steps.sample_features(features, torch.tensor([[11.0, 7.0]]), (32, 32))
    mid = steps.sample_features(features, torch.tensor([[10.25, 7.0]]), (32, 32))
    assert torch.allclose(mid, 0.75 * a + 0.25 * b, atol=1e-5)


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_tracking_finds_a_known_shift(metric):
    features = smooth_random_map(size=48)
    shift = (3, -2)
    moved = torch.roll(features, shifts=(shift[1], shift[0]), dims=(2, 3))
    handles = torch.tensor([[20.0, 20.0], [30.0, 15.0]])
    reference = steps.sample_features(features, handles, (48, 48))
    found = steps.track_points(
        moved, handles, reference, radius=4, img_size=(48, 48), metric=metric
    )
    assert torch.equal(found, handles + torch.tensor(shift, dtype=torch.float32))


def test_tracking_stays_in_the_image_and_window():
    features = smooth_random_map(size=32)
    handles = torch.tensor([[0.0, 31.0]])
    reference = steps.sample_features(features, handles, (32, 32))
    found = steps.track_points(features, handles, reference, radius=3, img_size=(32, 32))
    assert torch.equal(found, handles)


def test_motion_supervision_pulls_content_toward_the_target():
    # A map holding a bump at a learnable centre: the loss gradient must move it along d.
    centre = torch.tensor([16.0, 16.0], requires_grad=True)
    coords = torch.arange(32.0)
    dx = coords[None, :] - centre[0]
    dy = coords[:, None] - centre[1]
    bump = torch.exp(-(dx**2 + dy**2) / 20)
    features = torch.stack([bump, bump * dx / 5, bump * dy / 5])[None]
    handles = torch.tensor([[16.0, 16.0]])
    targets = torch.tensor([[26.0, 16.0]])
    loss = steps.motion_supervision_loss(features, handles, targets, 3.0, (32, 32))
    loss.backward()
    assert centre.grad[0] < 0  # descending the loss increases x: toward the target
    assert abs(centre.grad[1]) < 1e-4 * abs(centre.grad[0])


def test_motion_supervision_skips_arrived_handles():
    features = smooth_random_map(size=32).requires_grad_(True)
    handles = torch.tensor([[10.0, 10.0], [20.0, 20.0]])
    targets = torch.tensor([[15.0, 10.0], [20.0, 25.0]])
    both = steps.motion_supervision_loss(features, handles, targets, 2.0, (32, 32))
    first = steps.motion_supervision_loss(
        features, handles, targets, 2.0, (32, 32), active=torch.tensor([True, False])
    )
    alone = steps.motion_supervision_loss(features, handles[:1], targets[:1], 2.0, (32, 32))
    assert torch.allclose(first, alone) and both > first


def test_disc_is_the_papers_centred_and_strictly_less_than_r1():
    assert steps.disc_offsets(1.0).tolist() == [[0.0, 0.0]]
    offsets = steps.disc_offsets(3.0)
    assert len(offsets) == 25 and offsets.norm(dim=1).max() < 3.0
    assert torch.equal(offsets.mean(dim=0), torch.zeros(2))  # centred on the point


def official_read(features, points, img_size):
    """What the official code reads: upsample to the image, then grid_sample(align_corners=True)."""
    height, width = img_size
    upsampled = F.interpolate(features, size=img_size, mode="bilinear", align_corners=False)
    grid = torch.stack(
        [points[:, 0] / (width - 1) * 2 - 1, points[:, 1] / (height - 1) * 2 - 1], dim=1
    )
    read = F.grid_sample(upsampled, grid[None, None], mode="bilinear", align_corners=True)
    return read[0, :, 0].t()


@pytest.mark.parametrize("map_size, img_size", [(16, (64, 64)), (32, (128, 128)), (8, (32, 48))])
def test_sampling_equals_upsampling_then_grid_sample_at_random_points(map_size, img_size):
    features = torch.randn(1, 24, map_size, map_size)  # rough on purpose: no smoothing to hide in
    height, width = img_size
    generator = torch.Generator().manual_seed(map_size)
    points = torch.rand(500, 2, generator=generator) * torch.tensor([width + 1.0, height + 1.0])
    points -= 1.0  # a pixel beyond the image on every side: zeros there, as grid_sample pads
    # In float64: in float32 the reference's own coordinate rounding is ~2e-5 on this rough map.
    expected = official_read(features.double(), points.double(), img_size)
    ours = steps.sample_features(features, points, img_size)
    assert ours.dtype == torch.float32 and (ours - expected).abs().max() <= 1e-5


def test_sampling_between_pixels_is_not_the_native_read():
    # The old shortcut (read the small map at the point) is right only at whole pixels.
    features = torch.randn(1, 8, 16, 16)
    point = torch.tensor([[21.5, 29.5]])  # straddles cells of the small map: (i + 0.5) / 4 - 0.5
    native = steps.read_upsampled_pixels(features, point, (64, 64))
    exact = official_read(features, point, (64, 64))
    assert (native - exact).abs().max() > 1e-3
    assert (steps.sample_features(features, point, (64, 64)) - exact).abs().max() <= 1e-5


def test_motion_supervision_averages_over_the_disc_pixels_inside_the_image():
    features = smooth_random_map(size=32).requires_grad_(True)
    corner = torch.tensor([[0.0, 0.0]])
    target = torch.tensor([[10.0, 10.0]])
    loss = steps.motion_supervision_loss(features, corner, target, 3.0, (32, 32))
    offsets = steps.disc_offsets(3.0)
    q = offsets[(offsets >= 0).all(dim=1)]  # the quarter disc inside the image
    d = (target - corner) / (target - corner).norm()
    anchor = steps.sample_features(features, q, (32, 32))
    shifted = steps.sample_features(features, q + d, (32, 32))
    assert torch.isclose(loss, (shifted - anchor).abs().mean(), atol=1e-6)


def test_mask_loss_counts_only_the_fixed_area():
    before = torch.zeros(1, 2, 4, 4)
    after = before.clone()
    after[..., :2] = 1.0  # change the left half
    may_change = torch.zeros(16, 16, dtype=torch.bool)
    may_change[:, :8] = True  # ...which is exactly the flexible area
    fixed = steps.fixed_area_at(may_change, (4, 4))
    assert steps.mask_loss(after, before, fixed) == 0
    assert steps.mask_loss(after, before, 1 - fixed) > 0


def test_adam_matches_torch_adam():
    torch.manual_seed(0)
    ours = torch.nn.Parameter(torch.randn(3, 4))
    theirs = torch.nn.Parameter(ours.detach().clone())
    adam = steps.Adam(ours, lr=0.01)
    reference = torch.optim.Adam([theirs], lr=0.01)
    for _ in range(5):
        grad = torch.randn(3, 4)
        adam.step(grad)
        theirs.grad = grad.clone()
        reference.step()
    assert torch.allclose(ours, theirs, atol=1e-6)


@pytest.mark.parametrize(
    ("bad", "lr", "message"),
    [(float("nan"), 0.01, "the gradient is NaN"), (float("inf"), 0.01, "the gradient is NaN"),
     (0.5, 3e38, "the update would make the latent")],  # float32: a second step overflows
)  # fmt: skip
def test_adam_refuses_a_bad_gradient_or_update_and_changes_nothing(bad, lr, message):
    param = torch.ones(2, 3)
    adam = steps.Adam(param, lr=lr)
    adam.step(torch.full((2, 3), 0.5))
    before = (param.clone(), adam.m.clone(), adam.v.clone(), adam.t)
    grad = torch.full((2, 3), 0.5)
    grad[1, 2] = bad
    with pytest.raises(FloatingPointError, match=message):
        adam.step(grad)
    after = (param, adam.m, adam.v, adam.t)
    assert all(torch.equal(a, b) for a, b in zip(before[:3], after[:3], strict=True))
    assert before[3] == after[3]


def test_distance_map_is_zero_at_the_reference_and_matches_sampling():
    features = smooth_random_map(size=16)
    point = torch.tensor([[20.0, 37.0]])
    reference = steps.sample_features(features, point, (64, 64))[0]
    distances = steps.distance_map(features, reference, (64, 64), metric="l1")
    assert distances.shape == (64, 64)
    assert distances[37, 20] < 1e-4 and distances.mean() > 100 * distances[37, 20]
    other = steps.sample_features(features, torch.tensor([[5.0, 9.0]]), (64, 64))[0]
    assert torch.isclose(distances[9, 5], (other - reference).abs().sum(), atol=1e-4)
    with pytest.raises(ValueError, match="metric"):
        steps.distance_map(features, reference, (64, 64), metric="cos")


@pytest.mark.parametrize("handles", [[[20.0, 30.0]], [[2.0, 60.0], [9.0, 50.0]], [[63.0, 0.0]]])
def test_reads_near_the_handles_need_only_the_step_crop(handles):
    features = torch.randn(1, 8, 32, 32)
    handles = torch.tensor(handles)
    reach = 5
    crop = steps.step_crop(handles, reach, (64, 64), (32, 32))
    part = features[:, :, crop.top : crop.bottom, crop.left : crop.right]
    assert part.shape[-1] < 32 or len(handles) > 1
    generator = torch.Generator().manual_seed(0)
    offsets = (torch.rand(len(handles), 50, 2, generator=generator) * 2 - 1) * reach
    points = (handles[:, None, :] + offsets).clamp(0, 63)
    whole = steps.sample_features(features, points, (64, 64))
    assert (steps.sample_features(part, points, (64, 64), crop) - whole).abs().max() <= 1e-5
