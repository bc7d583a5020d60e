import pytest
import torch
import torch.nn.functional as F

from dragwidget.networks import ops


def reference_upfirdn(x, f, up, down, pad):
    """Zero insertion, padding, a true 2-D convolution, decimation: written the slow way."""
    n, c, h, w = x.shape
    big = torch.zeros(n, c, h * up, w * up)
    big[:, :, ::up, ::up] = x
    big = F.pad(big, pad)
    f2 = torch.outer(f, f) if f.ndim == 1 else f
    out = F.conv2d(big, f2.flip([0, 1])[None, None].expand(c, 1, *f2.shape), groups=c)
    return out[:, :, ::down, ::down]


@pytest.mark.parametrize("up, down", [(1, 1), (2, 1), (1, 2), (2, 2)])
@pytest.mark.parametrize("separable", [True, False])
def test_upfirdn2d_matches_the_definition(up, down, separable):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 9, 11)
    taps = torch.tensor([1.0, 2.0, 4.0, 1.0])  # asymmetric: catches a missing flip
    f = taps if separable else torch.outer(taps, taps)
    result = ops.upfirdn2d(x, f, up=up, down=down, padding=[2, 1, 2, 1])
    assert torch.allclose(result, reference_upfirdn(x, taps, up, down, [2, 1, 2, 1]), atol=1e-5)


def test_negative_padding_crops():
    x = torch.arange(25.0).reshape(1, 1, 5, 5)
    assert torch.equal(ops.upfirdn2d(x, None, padding=[-1, -1, -2, 0]), x[:, :, 2:, 1:4])


def test_upsample_and_downsample_keep_the_mean():
    x = torch.full((1, 2, 8, 8), 3.0)
    f = ops.setup_filter([1, 3, 3, 1])
    assert ops.upsample2d(x, f).shape == (1, 2, 16, 16)
    assert torch.allclose(ops.upsample2d(x, f)[:, :, 2:-2, 2:-2], torch.tensor(3.0))
    assert torch.allclose(ops.downsample2d(x, f)[:, :, 1:-1, 1:-1], torch.tensor(3.0))


def test_bias_act():
    x = torch.tensor([[-1.0, 2.0]])
    y = ops.bias_act(x, torch.tensor([0.5, 0.5]), act="lrelu", clamp=2.0)
    assert torch.allclose(y, torch.tensor([[-0.1 * 2**0.5, 2.0]]))
    with pytest.raises(ValueError, match="unknown activation"):
        ops.bias_act(x, act="swish")
