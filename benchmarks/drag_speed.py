"""Drag steps per second, peak memory, and the step's overhead over the work it cannot avoid.

    python benchmarks/drag_speed.py            # CPU: 128 and 256 px StyleGAN2s of small width
    python benchmarks/drag_speed.py --gpu      # also a 512 px config-f StyleGAN2 on CUDA
    python benchmarks/drag_speed.py --methods  # each drag method's step, against DragGAN's
    python benchmarks/drag_speed.py --methods --generator runs/x/generator.safetensors

"floor" is one forward + backward of the whole synthesis up to the feature block with respect to
the latent. The ratio step/floor is the engine's overhead; it goes below 1 because after its first
step a drag computes the feature block only near the handles.
The shapes of the CPU configs are those at which the official step was timed on this kind of
machine (190 ms at 128 px, 633 ms at 256 px; ../shared/notes/draggan.md). Random weights: speed
does not depend on what the weights are. benchmarks/vs_official.py times the official step itself
beside ours.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch

CONFIGS = {
    "cpu-128": dict(img_resolution=128, channel_base=8192, channel_max=128, device="cpu"),
    "cpu-256": dict(img_resolution=256, channel_base=16384, channel_max=256, device="cpu"),
    "gpu-512": dict(img_resolution=512, channel_base=32768, channel_max=512, device="cuda"),
    "default": dict(shipped=True, device="cpu"),  # the model that ships (or --generator)
}
OFFICIAL_MS = {"cpu-128": 190.0, "cpu-256": 633.0}


def build(config: dict, generator_path: str | None = None) -> torch.nn.Module:
    from dragwidget.checkpoints import load_generator
    from dragwidget.networks.stylegan2 import Generator

    if config.get("shipped"):
        return load_generator(generator_path, device=config["device"])
    torch.manual_seed(0)
    G = Generator(
        z_dim=512,
        w_dim=512,
        img_resolution=config["img_resolution"],
        mapping_kwargs={"num_layers": 8},
        synthesis_kwargs={
            "channel_base": config["channel_base"],
            "channel_max": config["channel_max"],
            "num_fp16_res": 4 if config["device"] == "cuda" else 0,
            "conv_clamp": 256,
        },
    )
    return G.to(config["device"]).eval().requires_grad_(False)


def sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def timed(fn, device: str, repeats: int) -> float:
    """Median seconds of `fn` after two warm-up calls."""
    for _ in range(2):
        fn()
    times = []
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        fn()
        sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def far_points(session) -> None:
    """Two pairs with far targets, so that no handle arrives while steps are timed."""
    h = session.height
    session.add_point((h * 0.3, h * 0.4), (h * 0.95, h * 0.9))
    session.add_point((h * 0.6, h * 0.5), (h * 0.05, h * 0.1))


def measure_methods(name: str, repeats: int, generator_path: str | None) -> dict:
    """Each drag method's step (median ms), timed in turns so that all share the same load."""
    from dragwidget.drag import DragSession
    from dragwidget.drag.methods import METHODS

    config = CONFIGS[name]
    device = config["device"]
    G = build(config, generator_path)
    sessions = {}
    for method in METHODS:
        session = DragSession(G, seed=0, method=method)
        far_points(session)
        for _ in range(3):  # the first step starts the method; then two warm-up steps
            session.step()
        sessions[method] = session
    # On the CPU, process time: a busy machine stretches the wall clock, not the work done.
    clock = time.perf_counter if device == "cuda" else time.process_time
    times: dict[str, list[float]] = {method: [] for method in METHODS}
    for _ in range(repeats):
        for method, session in sessions.items():
            sync(device)
            start = clock()
            session.step()
            sync(device)
            times[method].append(clock() - start)
    ms = {method: statistics.median(t) * 1e3 for method, t in times.items()}
    return {"config": name, "ms": ms, "clock": clock.__name__}


def measure(name: str, feature_layer: str | None, repeats: int, generator_path=None) -> dict:
    from dragwidget.drag import DragSession

    config = CONFIGS[name]
    device = config["device"]
    G = build(config, generator_path)
    session = DragSession(G, seed=0, feature_layer=feature_layer, method="draggan")
    layer = session.resolved_settings().feature_layer
    far_points(session)
    session.step()
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step_s = timed(session.step, device, repeats)
    rendered_s = timed(lambda: session.step(render=True), device, repeats)
    peak = torch.cuda.max_memory_allocated() / 2**20 if device == "cuda" else None

    ws = session.latent.detach()
    free = ws[:, :6].clone().requires_grad_(True)

    def floor():
        _, features = G.synthesis(
            torch.cat([free, ws[:, 6:]], dim=1), feature_layer=layer, with_image=False
        )
        (grad,) = torch.autograd.grad(features.float().square().mean(), [free])

    floor_s = timed(floor, device, repeats)
    return {
        "config": name,
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "threads": torch.get_num_threads(),
        "feature_layer": layer,
        "step_ms": step_s * 1e3,
        "steps_per_s": 1 / step_s,
        "step_with_frame_ms": rendered_s * 1e3,
        "floor_ms": floor_s * 1e3,
        "ratio_step_to_floor": step_s / floor_s,
        "official_ms": OFFICIAL_MS.get(name),
        "speedup_vs_official": OFFICIAL_MS[name] / (step_s * 1e3) if name in OFFICIAL_MS else None,
        "peak_gpu_mib": peak,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpu", action="store_true", help="also time the 512 px model on CUDA")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # run one config in this process
    parser.add_argument("--layer", default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--methods", action="store_true", help="time each drag method's step against DragGAN's"
    )
    parser.add_argument("--generator", default=None, help="the 'default' row's model file")
    args = parser.parse_args()
    if args.one and args.methods:
        print(json.dumps(measure_methods(args.one, args.repeats, args.generator)))
        return
    if args.one:
        print(json.dumps(measure(args.one, args.layer, args.repeats, args.generator)))
        return
    if args.methods:
        print_methods(args)
        return
    runs = [("cpu-128", None), ("cpu-128", "b128"), ("cpu-256", None), ("cpu-256", "b128")]
    runs += [("default", None)]
    if args.gpu:
        runs += [("gpu-512", None)]
    header = f"{'config':8} {'layer':5} {'ms/step':>8} {'steps/s':>8} {'+frame':>7} "
    header += f"{'floor':>7} {'ratio':>6} {'vs official':>11} {'peak MiB':>9}"
    print(header)
    for name, layer in runs:
        # One process per config, so that the peak memory is that config's own.
        cmd = [sys.executable, __file__, "--one", name, "--repeats", str(args.repeats)]
        if layer:
            cmd += ["--layer", layer]
        if args.generator:
            cmd += ["--generator", args.generator]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        speedup = f"{r['speedup_vs_official']:.1f}x" if r["speedup_vs_official"] else "-"
        peak = r["peak_gpu_mib"] if r["peak_gpu_mib"] is not None else r["peak_rss_mib"]
        print(
            f"{name:8} {r['feature_layer']:5} {r['step_ms']:8.1f} {r['steps_per_s']:8.1f} "
            f"{r['step_with_frame_ms']:7.1f} {r['floor_ms']:7.1f} {r['ratio_step_to_floor']:6.2f} "
            f"{speedup:>11} {peak:9.0f}"
        )


def print_methods(args: argparse.Namespace) -> None:
    """ms per step of each method, and its ratio to DragGAN's step in the same process."""
    configs = ["cpu-128", "default"] + (["gpu-512"] if args.gpu else [])
    print(f"{'config':8} {'method':11} {'ms/step':>8} {'vs draggan':>11}")
    for name in configs:
        cmd = [sys.executable, __file__, "--one", name, "--methods", "--repeats", str(args.repeats)]
        if args.generator:
            cmd += ["--generator", args.generator]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        ms = r["ms"]
        for method, value in ms.items():
            print(
                f"{name:8} {method:11} {value:8.1f} {value / ms['draggan']:10.2f}x  ({r['clock']})"
            )


if __name__ == "__main__":
    main()
