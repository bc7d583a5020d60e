"""How long, and how much memory, load_generator takes on an official-size network pickle.

Writes (in a temp dir) a synthetic pickle laid out like NVIDIA's StyleGAN2-ADA 512 px ones:
G, D and G_ema (config-f channels, ~30 M parameters each generator; D with the official resnet
D's names and shapes) as persistent records, about 360 MB. Then, each in a fresh subprocess
(so that the RSS high-water mark belongs to that load alone):

    ours         load_generator(path): G_ema's tensors only; G's and D's bytes are skipped
                 (on a protocol-4 pickle, and on a protocol-3 one as Python 3.7 wrote them)
    naive        the same allow-list in the C unpickler, every tensor read (what an
                 unpickle-everything loader holds at its peak), then G_ema built
    safetensors  load_generator on G_ema saved in our format (float32), for comparison

    python benchmarks/load_checkpoint.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dragwidget.checkpoints import load_generator, save_generator, writers  # noqa: E402
from dragwidget.checkpoints.build import build_generator  # noqa: E402
from dragwidget.networks.stylegan2 import Generator  # noqa: E402

PICKLE_NAME, SAFETENSORS_NAME = "network-snapshot-512.pkl", "generator-512.safetensors"
PICKLE3_NAME = "network-snapshot-512-protocol3.pkl"
INIT_KWARGS = {
    "z_dim": 512,
    "c_dim": 0,
    "w_dim": 512,
    "img_resolution": 512,
    "img_channels": 3,
    "mapping_kwargs": {"num_layers": 8},
    "synthesis_kwargs": {
        "channel_base": 32768,
        "channel_max": 512,
        "num_fp16_res": 4,
        "conv_clamp": 256,
        "architecture": "skip",
    },
}


def write_files(folder: Path) -> None:
    torch.manual_seed(0)
    g_ema = Generator(**INIT_KWARGS).state_dict()
    pkl = folder / PICKLE_NAME
    t = time.perf_counter()
    d = writers.discriminator_state_dict(512)
    writers.write_nvidia_pickle(pkl, g_ema, INIT_KWARGS, g=g_ema, d=d, protocol=4)
    print(f"wrote {pkl.name}: {pkl.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")
    # Python 3.7 (StyleGAN2-ADA's) pickled with protocol 3 and NumPy 1: no frames, old names.
    pkl3 = folder / PICKLE3_NAME
    writers.write_nvidia_pickle(
        pkl3, g_ema, INIT_KWARGS, g=g_ema, d=d, protocol=3, numpy1_names=True
    )
    print(f"wrote {pkl3.name}: {pkl3.stat().st_size / 1e6:.0f} MB")
    st = folder / SAFETENSORS_NAME
    save_generator(Generator(**INIT_KWARGS), st)
    print(f"wrote {st.name}: {st.stat().st_size / 1e6:.0f} MB", flush=True)


class _EagerUnpickler(pickle.Unpickler):
    """The naive route: the C unpickler reads every tensor (our allow-list, so it is still safe)."""

    def find_class(self, module, name):
        if (module, name) == ("torch_utils.persistence", "_reconstruct_persistent_obj"):
            return lambda meta: meta
        if (module, name) == ("torch.storage", "_load_from_bytes"):
            return lambda b: torch.load(io.BytesIO(b), weights_only=True)
        if (module, name) == ("dnnlib.util", "EasyDict"):
            return dict
        if module.startswith("numpy.core"):
            module = "numpy._core" + module[len("numpy.core") :]
        allowed = {("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_parameter"),
                   ("collections", "OrderedDict"), ("builtins", "set"), ("numpy", "dtype"),
                   ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
                   ("numpy._core.multiarray", "scalar")}  # fmt: skip
        if (module, name) not in allowed:
            raise pickle.UnpicklingError(f"{module}.{name}")
        return super().find_class(module, name)


def naive_load(path: Path) -> torch.nn.Module:
    with open(path, "rb") as f:
        data = _EagerUnpickler(f).load()
    sd: dict[str, torch.Tensor] = OrderedDict()

    def walk(record, prefix):
        state = record["state"]
        for k, v in [*state["_parameters"].items(), *state["_buffers"].items()]:
            if v is not None:
                sd[prefix + k] = v.detach()
        for k, child in state["_modules"].items():
            walk(child, f"{prefix}{k}.")

    walk(data["G_ema"], "")
    kwargs = data["G_ema"]["state"]["_init_kwargs"]
    return build_generator("stylegan2", kwargs, sd, str(path))


def measure(method: str, path: str) -> None:
    """Runs in a fresh subprocess: one load, then prints its figures as JSON.

    The parent stays small (the files are written by another subprocess): on Linux a child's
    ru_maxrss starts from its parent's resident size at the fork.
    """
    torch.set_num_threads(2)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    load = naive_load if method == "naive" else load_generator
    G = load(Path(path))
    seconds = time.perf_counter() - t
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    weights = sum(p.numel() * p.element_size() for p in G.state_dict().values())
    del G
    t = time.perf_counter()
    load(Path(path))  # again, warm: torch's first-call costs paid (memory not measured)
    warm = time.perf_counter() - t
    figures = {"seconds": seconds, "warm": warm, "peak_mb": peak / 1024}
    print(json.dumps({**figures, "added_mb": (peak - before) / 1024, "weights_mb": weights / 1e6}))


def run(method: str, path: Path) -> dict:
    script = [sys.executable, __file__, "--measure", method, str(path)]
    out = subprocess.run(script, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--measure", nargs=2, metavar=("METHOD", "PATH"), help=argparse.SUPPRESS)
    parser.add_argument("--write", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=2, help="runs per method (best is shown)")
    args = parser.parse_args()
    if args.measure:
        return measure(*args.measure)
    if args.write:
        return write_files(args.write)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, __file__, "--write", str(folder)], check=True)
        pkl, pkl3, st = folder / PICKLE_NAME, folder / PICKLE3_NAME, folder / SAFETENSORS_NAME
        print(f"cpu: {os.cpu_count()} cores; each figure is the best of {args.repeat} fresh runs")
        print(f"{'method':<12}{'cold s':>8}{'warm s':>8}{'peak RSS MB':>13}{'added MB':>10}"
              f"{'G_ema MB':>10}")  # fmt: skip
        for label, method, path in [
            ("ours", "ours", pkl),
            ("ours (p3)", "ours", pkl3),
            ("naive", "naive", pkl),
            ("safetensors", "safetensors", st),
        ]:
            runs = [run(method, path) for _ in range(args.repeat)]
            best = {k: min(r[k] for r in runs) for k in runs[0]}
            print(
                f"{label:<12}{best['seconds']:>8.2f}{best['warm']:>8.2f}{best['peak_mb']:>13.0f}"
                f"{best['added_mb']:>10.0f}{best['weights_mb']:>10.0f}"
            )


if __name__ == "__main__":
    main()
