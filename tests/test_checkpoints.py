"""Checkpoint readers: every format gives back the official image; architectures from the weights.

The files are written here, from the format facts (dragwidget.checkpoints.writers): nothing is
downloaded. The StyleGAN2/3 reference outputs come from ../shared/reference (skipped if absent).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import safetensors.torch
import torch

from dragwidget.checkpoints import (
    DEFAULT_MODEL_PATH,
    CheckpointError,
    load_generator,
    read_checkpoint,
    safe_pickle,
    save_generator,
    torch_pickles,
    writers,
)
from dragwidget.checkpoints.unpickler import Blob, RestrictedUnpickler
from dragwidget.models import main as models_main
from dragwidget.networks import stylegan2

SHARED = Path(__file__).resolve().parents[2] / "shared"
TOL = 1e-4


def reference(name: str) -> dict:
    path = SHARED / "reference" / name
    if not path.exists():
        pytest.skip(f"{path} is absent: reference data lives in ../shared beside the checkout")
    return torch.load(path, weights_only=True)


@pytest.fixture(scope="module")
def sg2_reference() -> dict:
    return reference("stylegan2_skip64_reference.pt")


@pytest.fixture(scope="module")
def sg3_reference() -> dict:
    return reference("stylegan3_t32_reference.pt")


def globals_in(path: Path) -> set[str]:
    """The global names the pickle asks for, as written (before any NumPy renaming)."""
    seen = set()

    class Recorder(RestrictedUnpickler):
        def find_class(self, module, name):
            seen.add(f"{module}.{name}")
            return super().find_class(module, name)

    with open(path, "rb") as f:
        Recorder(f, str(path), safe_pickle.POLICY).load()
    return seen


def write_nvidia_p3(path, sd, kw):
    writers.write_nvidia_pickle(path, sd, kw, protocol=3, numpy1_names=True)


def write_nvidia_p4(path, sd, kw):
    writers.write_nvidia_pickle(path, sd, kw, protocol=4)


def write_tf(path, sd, kw):
    s = kw["synthesis_kwargs"]
    writers.write_tf_pickle(path, sd, fmap_base=s["channel_base"] // 2, fmap_max=s["channel_max"])


def write_rosinality(path, sd, kw):
    writers.write_rosinality(path, sd)


def write_ours(path, sd, kw):
    G = stylegan2.Generator(**kw)
    G.load_state_dict(sd)
    save_generator(G, path)


def write_bare_safetensors(path, sd, kw):
    safetensors.torch.save_file({k: v.contiguous() for k, v in sd.items()}, path)


def write_bare_torch(path, sd, kw):
    torch.save(dict(sd), path)


WRITERS = {
    "nvidia-protocol3-numpy1": (write_nvidia_p3, "nvidia-pickle"),
    "nvidia-protocol4-numpy2": (write_nvidia_p4, "nvidia-pickle"),
    "tf-era": (write_tf, "tf-pickle"),
    "rosinality": (write_rosinality, "rosinality"),
    "ours": (write_ours, "dragwidget safetensors"),
    "bare-safetensors": (write_bare_safetensors, "safetensors state dict"),
    "bare-torch-save": (write_bare_torch, "torch.save state dict"),
}


@pytest.mark.parametrize("fmt", list(WRITERS))
def test_every_format_gives_the_official_image(tmp_path, sg2_reference, fmt):
    write, expected_format = WRITERS[fmt]
    path = tmp_path / "model.bin"  # one name for all: the format is told from the bytes
    write(path, sg2_reference["state_dict"], sg2_reference["init_kwargs"])
    G = load_generator(path)
    assert read_checkpoint(path).format == expected_format
    assert not G.training and not any(p.requires_grad for p in G.parameters())
    with torch.no_grad():
        img = G.synthesis(sg2_reference["w_psi07"], noise_mode="const")
        ws = G.mapping(sg2_reference["z"], truncation_psi=0.7)
    assert (img - sg2_reference["img"]).abs().max() <= TOL
    assert (ws - sg2_reference["w_psi07"]).abs().max() <= TOL


def test_nvidia_pickles_use_the_global_names_of_their_era(tmp_path, sg2_reference):
    old, new = tmp_path / "old.pkl", tmp_path / "new.pkl"
    write_nvidia_p3(old, sg2_reference["state_dict"], sg2_reference["init_kwargs"])
    write_nvidia_p4(new, sg2_reference["state_dict"], sg2_reference["init_kwargs"])
    assert old.read_bytes()[:2] == b"\x80\x03" and new.read_bytes()[:2] == b"\x80\x04"
    common = {
        "torch_utils.persistence._reconstruct_persistent_obj",
        "torch.storage._load_from_bytes",
        "torch._utils._rebuild_tensor_v2",
        "torch._utils._rebuild_parameter",
        "collections.OrderedDict",
        "dnnlib.util.EasyDict",
    }
    assert common | {"numpy.core.multiarray.scalar", "builtins.set"} <= globals_in(old)
    assert common | {"numpy._core.multiarray.scalar"} <= globals_in(new)


def test_only_g_ema_tensors_are_read(tmp_path, sg2_reference, monkeypatch):
    path = tmp_path / "network.pkl"
    sd = sg2_reference["state_dict"]
    d = writers.discriminator_state_dict(64, 4096, 64)
    writers.write_nvidia_pickle(path, sd, sg2_reference["init_kwargs"], d=d)
    read_bytes = []
    original = torch_pickles.read_storage_blob

    def read(blob):
        read_bytes.append(blob.length if isinstance(blob, Blob) else 0)
        return original(blob)

    monkeypatch.setattr(torch_pickles, "read_storage_blob", read)
    load_generator(path)
    g_ema_bytes = sum(t.numel() * t.element_size() for t in sd.values())
    # Short blobs are read with the pickle; every long one read is G_ema's: G and D stay unread.
    assert g_ema_bytes * 0.5 < sum(read_bytes) < g_ema_bytes * 1.1
    assert sum(read_bytes) < path.stat().st_size / 2


def test_fp16_files_are_half_the_size_and_load_as_float32(tmp_path, sg2_reference):
    G = stylegan2.Generator(**sg2_reference["init_kwargs"])
    G.load_state_dict(sg2_reference["state_dict"])
    save_generator(G, tmp_path / "fp32.safetensors")
    save_generator(G, tmp_path / "fp16.safetensors", dtype=torch.float16)
    size32, size16 = ((tmp_path / f"fp{b}.safetensors").stat().st_size for b in (32, 16))
    assert size16 < 0.55 * size32
    G16 = load_generator(tmp_path / "fp16.safetensors")
    assert all(p.dtype == torch.float32 for p in G16.parameters())
    with torch.no_grad():
        img = G16.synthesis(sg2_reference["w_psi07"], noise_mode="const")
    assert (img - sg2_reference["img"]).abs().max() < 0.05


def test_our_format_keeps_the_config_in_the_safetensors_metadata(tmp_path, stylegan2_64):
    path = save_generator(stylegan2_64, tmp_path / "g.safetensors")
    with safetensors.safe_open(path, framework="pt") as f:
        meta = f.metadata()
    assert meta["format"] == "dragwidget.generator" and meta["format_version"] == "1"
    assert meta["kind"] == "stylegan2"
    assert json.loads(meta["init_kwargs"]) == stylegan2_64.init_kwargs
    assert load_generator(path).init_kwargs == stylegan2_64.init_kwargs


def test_a_run_folder_stands_for_its_exported_generator(tmp_path, stylegan2_64):
    (tmp_path / "run").mkdir()
    save_generator(stylegan2_64, tmp_path / "run" / "generator.safetensors")
    assert load_generator(tmp_path / "run").init_kwargs == stylegan2_64.init_kwargs
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="folder without a generator.safetensors"):
        load_generator(tmp_path / "empty")


def small_sg2(**synthesis_kwargs) -> torch.nn.Module:
    torch.manual_seed(0)
    synthesis = {"channel_base": 512, "channel_max": 32, "num_fp16_res": 0, **synthesis_kwargs}
    G = stylegan2.Generator(
        z_dim=32, w_dim=32, img_resolution=32, mapping_kwargs={"num_layers": 2},
        synthesis_kwargs=synthesis,
    )  # fmt: skip
    with torch.no_grad():
        for name, p in G.named_parameters():
            if name.endswith(("noise_strength", ".bias")):
                p.add_(0.1)
        G.mapping.w_avg.normal_()
    return G.eval()


def same_output(G1, G2) -> bool:
    z = torch.randn(2, G1.z_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        return bool((G1(z, truncation_psi=0.7) - G2(z, truncation_psi=0.7)).abs().max() <= TOL)


def test_stylegan_human_non_square_is_told_by_the_constant(tmp_path):
    G = small_sg2(square=False, conv_clamp=256)
    kwargs = json.loads(json.dumps(G.init_kwargs))
    del kwargs["synthesis_kwargs"]["square"]  # as StyleGAN-Human stores it: not a word of it
    path = tmp_path / "stylegan_human_v2_512.pkl"
    writers.write_nvidia_pickle(path, G.state_dict(), kwargs)
    loaded = load_generator(path)
    assert loaded.synthesis.img_size == (32, 16)
    assert same_output(G, loaded)


@pytest.mark.parametrize("architecture", ["resnet", "orig"])
def test_architecture_is_told_by_the_keys(tmp_path, architecture):
    G = small_sg2(architecture=architecture, conv_clamp=None)
    path = tmp_path / "network-snapshot-skip.pkl"  # the name says skip: only the bytes count
    writers.write_tf_pickle(path, G.state_dict())  # TF-era: no stored kwargs at all
    ckpt = read_checkpoint(path)
    assert ckpt.init_kwargs["synthesis_kwargs"]["architecture"] == architecture
    assert ckpt.init_kwargs["synthesis_kwargs"]["channel_base"] == 512
    assert ckpt.init_kwargs["synthesis_kwargs"]["channel_max"] == 32
    assert same_output(G, load_generator(path))


def test_stylegan3_t_from_a_network_pickle(tmp_path, sg3_reference):
    path = tmp_path / "stylegan3-t.pkl"
    # The last layer's filters are identities, which the official pickles store as None.
    none = {sg3_reference["layer_names"][-1]: ["up_filter", "down_filter"]}
    none = {f"synthesis.{k}": v for k, v in none.items()}
    writers.write_nvidia_pickle(
        path, sg3_reference["state_dict"], sg3_reference["init_kwargs"], none_buffers=none
    )
    G = load_generator(path)
    assert read_checkpoint(path).kind == "stylegan3"
    with torch.no_grad():
        img = G.synthesis(sg3_reference["w_psi07"], noise_mode="const")
        ws = G.mapping(sg3_reference["z"], truncation_psi=0.7)
    assert (img - sg3_reference["img"]).abs().max() <= TOL
    assert (ws - sg3_reference["w_psi07"]).abs().max() <= TOL
    again = load_generator(save_generator(G, tmp_path / "stylegan3-t.safetensors"))
    assert again.init_kwargs == G.init_kwargs
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in G.state_dict().items())


def tiny_sg3(**kwargs) -> torch.nn.Module:
    from dragwidget.networks.stylegan3 import Generator

    torch.manual_seed(0)
    config = dict(
        z_dim=8, w_dim=8, img_resolution=16, img_channels=3, channel_base=512, channel_max=16,
        num_layers=4, margin_size=2, mapping_kwargs={"num_layers": 1},
    )  # fmt: skip
    return Generator(**{**config, **kwargs}).eval()


def test_stylegan3_r_is_told_by_the_kernels(tmp_path):
    G = tiny_sg3(conv_kernel=1, use_radial_filters=True)
    kwargs = {
        k: v for k, v in G.init_kwargs.items() if k not in ("conv_kernel", "use_radial_filters")
    }
    path = tmp_path / "stylegan3-r.pkl"
    writers.write_nvidia_pickle(path, G.state_dict(), kwargs)
    ckpt = read_checkpoint(path)
    assert ckpt.init_kwargs["conv_kernel"] == 1 and ckpt.init_kwargs["use_radial_filters"]
    assert same_output(G, load_generator(path))


def test_a_training_checkpoint_without_latent_avg_gets_an_estimate(tmp_path, sg2_reference):
    path = tmp_path / "000100.pt"
    writers.write_rosinality(path, sg2_reference["state_dict"], latent_avg=False)
    G = load_generator(path)
    with torch.no_grad():
        z = torch.randn(20_000, G.z_dim, generator=torch.Generator().manual_seed(5))
        mean = G.mapping(z)[:, 0].mean(0)
        img = G.synthesis(sg2_reference["w_psi07"], noise_mode="const")
    assert (G.mapping.w_avg - mean).norm() < 0.05 * mean.norm()
    assert (img - sg2_reference["img"]).abs().max() <= TOL


def test_device_and_the_default_model(tmp_path, stylegan2_64):
    path = save_generator(stylegan2_64, tmp_path / "g.safetensors")
    G = load_generator(path, device="cpu")
    assert all(p.device.type == "cpu" for p in G.parameters())
    default = load_generator()  # shipped in the package: fp16 weights, config in the metadata
    assert default.img_resolution == 128 and not default.training
    assert all(not p.requires_grad for p in default.parameters())
    assert DEFAULT_MODEL_PATH.stat().st_size <= 15 * 2**20


def test_cli_info_prints_the_facts(tmp_path, capsys):
    G = small_sg2(square=False)
    path = tmp_path / "human.pkl"
    writers.write_nvidia_pickle(path, G.state_dict(), G.init_kwargs, protocol=3)
    assert models_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "stylegan2 (skip)" in out and "32 x 16 (H x W)" in out
    assert "z_dim 32, w_dim 32" in out and "2 layers" in out
    assert "4:32  8:32  16:32  32:16" in out
    assert f"{sum(p.numel() for p in G.parameters()):,}" in out
    assert models_main(["info", str(path), "--json"]) == 0
    facts = json.loads(capsys.readouterr().out)
    assert facts["format"] == "nvidia-pickle" and facts["resolution"] == [32, 16]
    assert facts["num_ws"] == G.num_ws and facts["mapping_layers"] == 2
    assert facts["parameters"] == sum(p.numel() for p in G.parameters())
    assert facts["channels"] == {"4": 32, "8": 32, "16": 32, "32": 16}


def test_cli_reports_errors_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.pkl"
    bad.write_bytes(b"\x80\x04\x95")
    run = subprocess.run(
        [sys.executable, "-m", "dragwidget.models", "info", str(bad)],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.startswith("error: ") and str(bad) in run.stderr
    assert "Traceback" not in run.stderr


def test_a_drag_on_a_stylegan3_loaded_from_a_pickle(tmp_path, sg3_reference):
    drag = pytest.importorskip("dragwidget.drag", reason="the drag engine is not there yet")
    path = tmp_path / "stylegan3-t.pkl"
    writers.write_nvidia_pickle(path, sg3_reference["state_dict"], sg3_reference["init_kwargs"])
    session = drag.DragSession(load_generator(path), seed=0)
    session.add_point((12, 16), (20, 16))
    records = [session.step() for _ in range(3)]
    assert all(len(r.handles) == 1 and len(r.distances) == 1 for r in records)
    assert records[-1].distances[0] < records[0].distances[0] == 8.0
