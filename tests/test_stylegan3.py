"""StyleGAN3 generator: exactness against the official outputs, naming, the drag protocol."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dragwidget.networks.stylegan3 import Generator, design_lowpass_filter, kaiser_beta

SHARED = Path(__file__).parents[1].parent / "shared"
REFERENCE = SHARED / "reference" / "stylegan3_t32_reference.pt"
TOL = 1e-4

# Config R as the official training uses it: twice the channels, 1x1 convs, radial filters.
R_KWARGS = dict(channel_base=65536, channel_max=1024, conv_kernel=1, use_radial_filters=True)


@pytest.fixture(scope="module")
def reference() -> dict:
    if not REFERENCE.exists():
        pytest.skip(f"no StyleGAN3 reference outputs at {REFERENCE} (the shared folder is absent)")
    return torch.load(REFERENCE, weights_only=True)


@pytest.fixture(scope="module")
def reference_generator(reference: dict) -> Generator:
    torch.manual_seed(0)
    G = Generator(**reference["init_kwargs"]).eval()
    G.load_state_dict(reference["state_dict"], strict=True)
    return G


def tiny_generator(**kwargs) -> Generator:
    """A 16-px generator small enough to run forward and backward in a blink."""
    torch.manual_seed(0)
    config = dict(
        z_dim=8,
        w_dim=8,
        img_resolution=16,
        img_channels=3,
        channel_base=256,
        channel_max=8,
        num_layers=4,
        margin_size=2,
        mapping_kwargs={"num_layers": 1},
    )
    return Generator(**{**config, **kwargs})


def meta_generator(**kwargs) -> Generator:
    """A full-size generator without memory or random init: for names, shapes and schedules."""
    with torch.device("meta"):
        return Generator(**kwargs)


# --- Exactness against the official implementation ------------------------------------------------


def test_designed_filters_match_the_official_buffers(reference: dict) -> None:
    torch.manual_seed(0)
    G = Generator(**reference["init_kwargs"])
    state = reference["state_dict"]
    ours = {k: v for k, v in G.state_dict().items() if k.endswith("_filter")}
    assert set(ours) == {k for k in state if k.endswith("_filter")}
    for key, value in ours.items():
        assert value.shape == state[key].shape, key
        assert (value - state[key]).abs().max() < 1e-6, key


def test_layer_names_match(reference: dict, reference_generator: Generator) -> None:
    assert reference_generator.synthesis.layer_names == reference["layer_names"]
    assert reference_generator.num_ws == reference["w_psi07"].shape[1]


@pytest.fixture(scope="module")
def reference_run(reference: dict, reference_generator: Generator) -> dict:
    """One synthesis pass of the reference latents, keeping every layer's raw output."""
    synthesis = reference_generator.synthesis
    outputs: dict[str, torch.Tensor] = {}
    hooks = [
        getattr(synthesis, name).register_forward_hook(
            lambda _m, _i, out, name=name: outputs.__setitem__(name, out)
        )
        for name in reference["features"]
    ]
    try:
        with torch.no_grad():
            img = synthesis(reference["w_psi07"], noise_mode="const")
    finally:
        for hook in hooks:
            hook.remove()
    return {"img": img, "outputs": outputs}


def test_mapping_matches(reference: dict, reference_generator: Generator) -> None:
    with torch.no_grad():
        ws = reference_generator.mapping(reference["z"], truncation_psi=0.7)
    assert (ws - reference["w_psi07"]).abs().max() < TOL


def test_image_matches(reference: dict, reference_run: dict) -> None:
    assert reference_run["img"].shape == reference["img"].shape
    assert (reference_run["img"] - reference["img"]).abs().max() < TOL


def test_layer_outputs_match(reference: dict, reference_run: dict) -> None:
    for name, expected in reference["features"].items():
        ours = reference_run["outputs"][name]
        assert ours.shape == expected.shape, name
        assert (ours - expected).abs().max() < TOL, name


def test_generator_call_matches(reference: dict, reference_generator: Generator) -> None:
    """z -> image in one call, and a feature layer with the image: the same numbers."""
    name = "L8_52_64"
    with torch.no_grad():
        img, raw = reference_generator(
            reference["z"], truncation_psi=0.7, feature_layer=name, crop_margin=False
        )
    assert (img - reference["img"]).abs().max() < TOL
    assert (raw - reference["features"][name]).abs().max() < TOL


def test_features_without_margin(reference: dict, reference_generator: Generator) -> None:
    """Cropped features are the central sampling_rate x sampling_rate samples of the layer."""
    synthesis = reference_generator.synthesis
    name = "L4_36_64"
    with torch.no_grad():
        img, cropped = synthesis(reference["w_psi07"], feature_layer=name, with_image=False)
    assert img is None
    band = synthesis.band(name)
    assert band.margin == 10 and cropped.shape[-2:] == (band.sampling_rate, band.sampling_rate)
    expected = reference["features"][name][:, :, 10:-10, 10:-10]
    assert (cropped - expected).abs().max() < TOL


# --- Filter design --------------------------------------------------------------------------------


def test_filter_design_matches_textbook_formulas() -> None:
    """Our Kaiser-windowed sinc and jinc against SciPy's firwin, j1 and Kaiser window."""
    signal = pytest.importorskip("scipy.signal")
    special = pytest.importorskip("scipy.special")
    numtaps, cutoff, width, fs = 12, 5.04, 9.6, 64.0
    expected = signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
    ours = design_lowpass_filter(numtaps, cutoff, width, fs)
    assert np.abs(ours.numpy() - expected).max() < 1e-6

    beta = signal.kaiser_beta(signal.kaiser_atten(numtaps, width / (fs / 2)))
    assert abs(kaiser_beta(numtaps, width / (fs / 2)) - beta) < 1e-9
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    radial = special.j1(2 * cutoff * np.pi * r) / (np.pi * r)
    radial *= np.outer(np.kaiser(numtaps, beta), np.kaiser(numtaps, beta))
    radial /= radial.sum()
    ours = design_lowpass_filter(numtaps, cutoff, width, fs, radial=True)
    assert np.abs(ours.numpy() - radial).max() < 1e-6


def test_filters_are_normalised_low_pass() -> None:
    assert design_lowpass_filter(1, 2.0, 1.0, 16.0) is None
    for radial in (False, True):
        f = design_lowpass_filter(13, 4.0, 3.0, 32.0, radial=radial)  # odd: a tap at r = 0
        assert torch.isfinite(f).all()
        assert abs(f.sum().item() - 1) < 1e-6
        assert torch.allclose(f, f.flip(0), atol=1e-7)
    f = design_lowpass_filter(12, 4.0, 3.0, 32.0, radial=True)
    assert torch.allclose(f, f.t(), atol=1e-7)


# --- Names and shapes of the official files -------------------------------------------------------


LAYER_KEYS = {"weight", "bias", "magnitude_ema", "up_filter", "down_filter"}
LAYER_KEYS |= {"affine.weight", "affine.bias"}


@pytest.mark.parametrize("resolution", [1024, 512])
def test_config_t_key_names_follow_the_official_pattern(resolution: int) -> None:
    G = meta_generator(z_dim=512, w_dim=512, img_resolution=resolution, img_channels=3)
    names = G.synthesis.layer_names
    assert G.num_ws == 16 and len(names) == 15
    assert names[0] == "L0_36_512"  # rate 16 (first stopband 2^2.1 x 2, rounded up) + 2 x 10
    assert names[-2:] == [f"L13_{resolution}_{32768 // resolution}", f"L14_{resolution}_3"]
    if resolution == 1024:
        # The paper's schedule: cutoff and stopband grow geometrically over 12 layers.
        assert names == [
            "L0_36_512", "L1_36_512", "L2_52_512", "L3_52_512", "L4_84_512", "L5_148_512",
            "L6_148_512", "L7_276_323", "L8_276_203", "L9_532_128", "L10_1044_81",
            "L11_1044_51", "L12_1044_32", "L13_1024_32", "L14_1024_3",
        ]  # fmt: skip
    state = G.state_dict()
    pattern = re.compile(r"synthesis\.(L\d+)_(\d+)_(\d+)\.(.+)")
    input_keys = {"weight", "transform", "freqs", "phases", "affine.weight", "affine.bias"}
    mapping_keys = {"mapping.w_avg", "mapping.fc0.weight", "mapping.fc0.bias"}
    mapping_keys |= {"mapping.fc1.weight", "mapping.fc1.bias"}
    assert {k for k in state if k.startswith("synthesis.input.")} == {
        f"synthesis.input.{k}" for k in input_keys
    }
    assert {k for k in state if k.startswith("mapping.")} == mapping_keys
    assert state["synthesis.input.freqs"].shape == (512, 2)
    assert state["synthesis.input.affine.weight"].shape == (4, 512)
    for key, value in state.items():
        if key.startswith(("mapping.", "synthesis.input.")):
            continue
        match = pattern.fullmatch(key)
        assert match and match.group(4) in LAYER_KEYS, key
        if match.group(4) == "weight":
            size, channels = int(match.group(2)), int(match.group(3))
            assert value.shape[0] == channels
            assert value.shape[2:] == ((1, 1) if key.startswith("synthesis.L14_") else (3, 3))
            assert G.synthesis.band(f"{match.group(1)}_{size}_{channels}").size == size
    # The ToRGB resamples nothing: its identity filters are absent, as in the official files.
    torgb = f"synthesis.L14_{resolution}_3."
    assert torgb + "up_filter" not in state and torgb + "down_filter" not in state


def test_config_r_shapes() -> None:
    G = meta_generator(z_dim=512, w_dim=512, img_resolution=512, img_channels=3, **R_KWARGS)
    state = G.state_dict()
    assert G.synthesis.layer_names[0] == "L0_36_1024"
    for i, name in enumerate(G.synthesis.layer_names[:-1]):
        assert state[f"synthesis.{name}.weight"].shape[2:] == (1, 1)
        # Radial (2-D) down filters, except in the critically sampled last layers.
        down = state[f"synthesis.{name}.down_filter"]
        assert down.ndim == (1 if i >= 14 - 2 else 2), name
        assert state[f"synthesis.{name}.up_filter"].ndim == 1


def test_identity_filters_are_absent_and_load() -> None:
    """With lrelu_upsampling=1 and equal rates every filter is the identity: none is stored."""
    G = tiny_generator(lrelu_upsampling=1)
    state = G.state_dict()
    assert not [k for k in state if k.endswith("_filter")]
    fresh = tiny_generator(lrelu_upsampling=1)
    fresh.load_state_dict(state, strict=True)


# --- The generator protocol -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "resolution, expected, rate",
    [(512, "L7_148_483", 128), (256, "L6_84_512", 64), (1024, "L8_276_203", 256)],
)
def test_default_feature_layer(resolution: int, expected: str, rate: int) -> None:
    synthesis = meta_generator(img_resolution=resolution).synthesis
    name = synthesis.default_feature_layer
    assert name == expected and name in synthesis.feature_layers
    assert synthesis.band(name).sampling_rate == rate == resolution // 4
    # The deepest layer at that rate.
    later = synthesis.feature_layers[synthesis.feature_layers.index(name) + 1 :]
    assert all(synthesis.band(n).sampling_rate > rate for n in later)


def test_default_feature_layer_of_small_models(reference_generator: Generator) -> None:
    synthesis = reference_generator.synthesis
    assert synthesis.default_feature_layer in synthesis.feature_layers
    assert synthesis.default_feature_layer == "L13_32_64"  # floor: min(h, 64) = 32 for h = 32
    assert tiny_generator().synthesis.default_feature_layer == "L3_16_8"


def test_protocol_attributes() -> None:
    G = tiny_generator()
    assert (G.z_dim, G.w_dim, G.c_dim, G.img_resolution, G.img_channels) == (8, 8, 0, 16, 3)
    assert G.num_ws == G.synthesis.num_ws == 6
    assert G.synthesis.img_size == (16, 16)
    assert G.synthesis.feature_layers == G.synthesis.layer_names[:-1]
    rebuilt = Generator(**json.loads(json.dumps(G.init_kwargs)))
    assert rebuilt.state_dict().keys() == G.state_dict().keys()
    ws = G.mapping(torch.randn(2, 8), truncation_psi=0.5, truncation_cutoff=2)
    assert ws.shape == (2, 6, 8)
    assert torch.equal(ws[:, 2], ws[:, 5]) and not torch.equal(ws[:, 0], ws[:, 5])
    with torch.no_grad():
        const = G.synthesis(ws, noise_mode="const")
        assert torch.equal(const, G.synthesis(ws, noise_mode="random"))
    with pytest.raises(ValueError):
        G.synthesis(ws, noise_mode="loud")
    with pytest.raises(ValueError):
        G.synthesis(ws, feature_layer=G.synthesis.layer_names[-1])
    with pytest.raises(TypeError):
        tiny_generator(no_such_argument=1)


def test_input_transform_moves_the_sampling_grid() -> None:
    """`synthesis.input.transform` maps output positions to the input plane: a translation by k
    samples shows the Fourier features k samples further on (how viewers pan the image)."""
    G = tiny_generator()
    inp = G.synthesis.input
    w = torch.randn(2, 8)
    with torch.no_grad():
        inp.affine.weight.normal_()  # a rotation and shift from w as well
        before = inp(w)
        inp.transform[0, 2] = 3 / inp.sampling_rate  # x: 3 samples
        inp.transform[1, 2] = -2 / inp.sampling_rate  # y: -2 samples
        after = inp(w)
    assert torch.allclose(after[:, :, 2:, :-3], before[:, :, :-2, 3:], atol=1e-5)


@pytest.mark.parametrize("config", [{}, R_KWARGS | {"channel_base": 256, "channel_max": 8}])
def test_forward_backward_reaches_ws(config: dict) -> None:
    G = tiny_generator(**config)
    ws = G.mapping(torch.randn(2, 8)).detach().requires_grad_(True)
    img = G.synthesis(ws)
    assert img.shape == (2, 3, 16, 16) and torch.isfinite(img).all()
    img.square().mean().backward()
    assert ws.grad is not None and ws.grad.abs().sum() > 0


def test_feature_layer_stops_there() -> None:
    G = tiny_generator()
    synthesis = G.synthesis
    name = synthesis.feature_layers[1]
    ran: list[str] = []
    for layer_name in synthesis.layer_names:
        layer = getattr(synthesis, layer_name)
        layer.register_forward_hook(lambda *_, n=layer_name: ran.append(n))
    ws = G.mapping(torch.randn(2, 8)).detach().requires_grad_(True)

    img, features = synthesis(ws, feature_layer=name, with_image=False)
    assert img is None and ran == synthesis.layer_names[:2]
    band = synthesis.band(name)
    assert features.shape == (2, band.channels, band.sampling_rate, band.sampling_rate)
    features.square().mean().backward()
    assert ws.grad[:, 1:3].abs().sum() > 0 and ws.grad[:, 3:].abs().sum() == 0

    ran.clear()
    img, features = synthesis(ws, feature_layer=name, with_image=True)
    assert ran == synthesis.layer_names
    assert features.requires_grad and not img.requires_grad
    with torch.no_grad():
        assert torch.allclose(img, synthesis(ws), atol=1e-6)
