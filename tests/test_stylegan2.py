import json

import pytest
import torch
import torch.nn.functional as F
from conftest import reference_file, small_stylegan2

from dragwidget.networks.stylegan2 import Generator

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def reference():
    ref = torch.load(reference_file("stylegan2_skip64_reference.pt"), weights_only=True)
    G = Generator(**ref["init_kwargs"]).eval()
    G.load_state_dict(ref["state_dict"], strict=True)
    return G, ref


def test_mapping_matches_official(reference):
    G, ref = reference
    with torch.no_grad():
        for psi, key in [(0.7, "w_psi07"), (1.0, "w_psi1")]:
            ws = G.mapping(ref["z"], None, truncation_psi=psi)
            assert (ws - ref[key]).abs().max() <= TOLERANCE


def test_every_block_and_image_match_official(reference):
    G, ref = reference
    with torch.no_grad():
        img = G.synthesis(ref["w_psi07"], noise_mode="const")
        assert (img - ref["img"]).abs().max() <= TOLERANCE
        for res, expected in ref["features"].items():
            _, features = G.synthesis(ref["w_psi07"], feature_layer=f"b{res}", with_image=False)
            assert features.shape == expected.shape
            assert (features - expected).abs().max() <= TOLERANCE


def test_state_dict_names_equal_official_512_config_f():
    expected = json.loads(reference_file("stylegan2_512_keys.json").read_text())
    with torch.device("meta"):
        G = Generator(
            z_dim=512,
            w_dim=512,
            img_resolution=512,
            mapping_kwargs={"num_layers": 8},
            synthesis_kwargs={"channel_base": 32768, "channel_max": 512, "num_fp16_res": 4},
        )
    shapes = {name: list(t.shape) for name, t in G.state_dict().items()}
    assert list(shapes) == list(expected)
    assert shapes == expected
    assert G.num_ws == 16


def test_stopping_at_a_block_runs_nothing_after_it(stylegan2_64):
    G = stylegan2_64
    ran = []
    G.synthesis.b64.register_forward_hook(lambda *_: ran.append("b64"))
    ws = G.mapping(torch.randn(1, 64))
    img, features = G.synthesis(ws, feature_layer="b32", with_image=False)
    assert img is None and features.shape[-1] == 32 and ran == []
    img, features = G.synthesis(ws, feature_layer="b32", with_image=True)
    assert ran == ["b64"]
    assert torch.equal(img, G.synthesis(ws))


def test_image_part_runs_without_gradients_feature_part_with(stylegan2_64):
    G = stylegan2_64
    ws = G.mapping(torch.randn(1, 64)).requires_grad_(True)
    img, features = G.synthesis(ws, feature_layer="b32", with_image=True)
    assert features.requires_grad and not img.requires_grad
    assert torch.is_grad_enabled()


def test_noise_modes(stylegan2_64):
    G = stylegan2_64
    ws = G.mapping(torch.randn(1, 64))
    with torch.no_grad():
        const = [G.synthesis(ws, noise_mode="const") for _ in range(2)]
        random = [G.synthesis(ws, noise_mode="random") for _ in range(2)]
        none = G.synthesis(ws, noise_mode="none")
    assert torch.equal(const[0], const[1])
    assert not torch.equal(random[0], random[1])
    assert not torch.equal(none, const[0])
    with pytest.raises(ValueError, match="noise_mode"):
        G.synthesis(ws, noise_mode="loud")


@pytest.mark.parametrize("architecture", ["skip", "resnet", "orig"])
def test_architectures_run_and_take_gradients(architecture):
    G = small_stylegan2(32, architecture=architecture)
    ws = G.mapping(torch.randn(2, 64)).detach().requires_grad_(True)
    img = G.synthesis(ws)
    assert img.shape == (2, 3, 32, 32) and torch.isfinite(img).all()
    img.square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0
    has_skip = any(".skip." in name for name in G.state_dict())
    assert has_skip == (architecture == "resnet")


def test_non_square_model_like_stylegan_human():
    G = small_stylegan2(32, square=False)
    assert G.synthesis.b4.const.shape[-2:] == (4, 2)
    assert G.synthesis(G.mapping(torch.randn(1, 64))).shape == (1, 3, 32, 16)
    assert G.synthesis.img_size == (32, 16)


def test_default_feature_layer_scales_with_resolution():
    with torch.device("meta"):
        sizes = {
            r: Generator(z_dim=8, w_dim=8, img_resolution=r) for r in (64, 128, 256, 512, 1024)
        }
    layers = {r: G.synthesis.default_feature_layer for r, G in sizes.items()}
    assert layers == {64: "b64", 128: "b64", 256: "b64", 512: "b128", 1024: "b256"}


def test_bad_latent_shape_is_named(stylegan2_64):
    with pytest.raises(ValueError, match=r"ws must have shape \[B, 10, 64\]"):
        stylegan2_64.synthesis(torch.zeros(1, 3, 64))
    with pytest.raises(ValueError, match="feature_layer must be one of"):
        stylegan2_64.synthesis(torch.zeros(1, 10, 64), feature_layer="b7")


def test_features_then_image_draws_the_same_image_only_when_asked(stylegan2_64):
    G = stylegan2_64
    ran = []
    G.synthesis.b64.register_forward_hook(lambda *_: ran.append("b64"))
    G.synthesis.b16.torgb.register_forward_hook(lambda *_: ran.append("b16.torgb"))
    ws = G.mapping(torch.randn(1, 64)).detach().requires_grad_(True)
    features, image = G.synthesis.features_then_image(ws, "b32")
    assert ran == [] and features.requires_grad  # no ToRGB, nothing past b32
    img = image()
    assert ran == ["b16.torgb", "b64"] and not img.requires_grad
    with torch.no_grad():
        assert torch.equal(img, G.synthesis(ws))


def test_constant_weights_scope_gives_the_same_results_and_ends_with_the_scope(stylegan2_64):
    from dragwidget.networks.stylegan2 import constant_weights

    G = stylegan2_64.requires_grad_(False)
    ws = G.mapping(torch.randn(1, 64)).detach().requires_grad_(True)

    def forward_and_grad():
        _, features = G.synthesis(ws, feature_layer="b32", with_image=False)
        (grad,) = torch.autograd.grad(features.square().mean(), [ws])
        with torch.no_grad():
            return G.synthesis(ws), features.detach(), grad

    outside = forward_and_grad()
    with constant_weights(G):
        inside = [forward_and_grad() for _ in range(2)]  # the second uses what the first kept
    assert all(torch.equal(a, b) for run in inside for a, b in zip(run, outside, strict=True))
    with torch.no_grad():
        G.synthesis.b64.conv1.bias.add_(1)  # a change after the scope is seen
        assert not torch.equal(G.synthesis(ws), outside[0])


def test_weights_that_train_get_gradients_inside_a_constant_weights_scope(stylegan2_64):
    from dragwidget.networks.stylegan2 import constant_weights

    G = stylegan2_64.requires_grad_(True)
    ws = G.mapping(torch.randn(1, 64)).detach()
    with constant_weights(G):
        G.synthesis(ws).square().mean().backward()
    assert G.synthesis.b64.conv1.weight.grad.abs().sum() > 0
    assert G.synthesis.b8.conv0.affine.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("modulate_weights", [False, True])
def test_both_forms_of_the_modulated_conv_agree_with_the_papers(modulate_weights):
    # The paper's form: per-sample weights w' = w * s, demodulated by 1 / ||w'||, then the
    # noise, the bias, leaky ReLU * sqrt(2) and the clamp.
    from dragwidget.networks.ops import setup_filter
    from dragwidget.networks.stylegan2 import SynthesisLayer

    torch.manual_seed(0)
    layer = SynthesisLayer(8, 6, 16, (16, 16), conv_clamp=0.5, resample_filter=setup_filter([1]))
    with torch.no_grad():
        layer.noise_strength.fill_(0.3)
        layer.bias.normal_()
    layer.modulate_weights = modulate_weights
    x, w = torch.randn(1, 8, 16, 16), torch.randn(1, 16)
    with torch.no_grad():
        y = layer(x, w)
        styles = layer.affine(w)
        weight = layer.weight * styles.reshape(1, -1, 1, 1)
        weight = weight * (weight.square().sum(dim=[1, 2, 3], keepdim=True) + 1e-8).rsqrt()
        expected = F.conv2d(x, weight, padding=1) + layer.noise_const * layer.noise_strength
        expected = F.leaky_relu(expected + layer.bias.reshape(1, -1, 1, 1), 0.2) * 2**0.5
        expected = expected.clamp(-0.5, 0.5)
    assert (expected.abs() == 0.5).any()  # the clamp was needed, and applied
    assert (y - expected).abs().max() <= 1e-5


@pytest.mark.parametrize(
    "architecture, square", [("skip", True), ("resnet", True), ("orig", False)]
)
def test_a_window_of_the_feature_block_equals_that_part_of_the_whole(architecture, square):
    G = small_stylegan2(64, architecture=architecture, square=square)
    ws = G.mapping(torch.randn(1, 64)).detach()
    generator = torch.Generator().manual_seed(0)
    for layer in ("b16", "b64"):
        _, whole = G.synthesis(ws, feature_layer=layer, with_image=False)
        height, width = whole.shape[-2:]
        windows = [(0, height, 0, width), (0, 3, width - 2, width)]  # whole, and a corner
        for _ in range(8):
            top, left = (int(torch.randint(n, (1,), generator=generator)) for n in (height, width))
            bottom = int(torch.randint(top + 1, height + 1, (1,), generator=generator))
            right = int(torch.randint(left + 1, width + 1, (1,), generator=generator))
            windows.append((top, bottom, left, right))
        for top, bottom, left, right in windows:
            part, image = G.synthesis.features_then_image(
                ws, layer, window=(top, bottom, left, right)
            )
            expected = whole[:, :, top:bottom, left:right]
            assert part.shape == expected.shape and (part - expected).abs().max() <= 1e-5
        with torch.no_grad():
            assert torch.equal(image(), G.synthesis(ws))  # the frame still draws it all


def test_latents_past_grad_layers_are_constants_and_the_rest_get_the_same_gradient(stylegan2_64):
    G = stylegan2_64.requires_grad_(False)
    ws = G.mapping(torch.randn(1, 64)).detach().requires_grad_(True)
    grads = []
    for grad_layers in (None, 4):
        features, _ = G.synthesis.features_then_image(ws, "b32", grad_layers=grad_layers)
        (grad,) = torch.autograd.grad(features.square().mean(), [ws])
        grads.append(grad)
    whole, first_four = grads
    assert whole[:, 4:].abs().sum() > 0 and first_four[:, 4:].abs().sum() == 0
    assert torch.allclose(first_four[:, :4], whole[:, :4], rtol=1e-5, atol=1e-8)
