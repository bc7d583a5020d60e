"""Our drag step against the official DragGAN's, on the same weights, timed side by side.

    DRAGGAN_OFFICIAL=/path/to/DragGAN python benchmarks/vs_official.py
    python benchmarks/vs_official.py --official /path/to/DragGAN [--models default cpu-128]
    python benchmarks/vs_official.py --official /path/to/DragGAN --only fidelity

The official code is imported from its checkout at run time (never copied here); without a checkout
this says so and exits 0. For each model it builds the official generator from our weights and
checks that the two draw the same image, then reports:

- timing: the official renderer's drag step (which always renders the full image, at its block
  b128) and ours, step only and step + frame, at our default block and at b128, timed
  round-robin in one process (medians of CPU time on a CPU, of synchronised wall time on CUDA);
- the user's view: steps and frames per second in the widget's own loop with frames on demand (a
  simulated browser acks each frame after --ack-ms), against the official tool's one step per
  frame, in wall time, interleaved;
- fidelity: 100-step drags at 1, 2 and 5 points with the same settings in both tools; the tracked
  handles' largest distance apart, with the official neighbourhood patched to the paper's
  (centred disc, strictly less than r1: its distance grid made the pixel grid) and unpatched.

Models: `default` is whatever model ships with dragwidget (so a rerun measures the model of the
day); `cpu-128` and `cpu-256` are random StyleGAN2s at the shapes the official step was first
timed at; `gpu-512` is config-f at 512 px (CUDA).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import statistics
import sys
import threading
import time
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from drag_speed import CONFIGS, build  # noqa: E402

from dragwidget.drag import DragSession  # noqa: E402
from dragwidget.drag.pictures import psnr  # noqa: E402
from dragwidget.drag.session import latent_from_seed  # noqa: E402
from dragwidget.drag.steps import sample_features  # noqa: E402

OFFICIAL_BLOCK = 128  # the paper's feature block (b128 of a 512 px model)
LEARNING_RATE = 2e-3  # ours by default; the official GUI's slider starts at 1e-3 (same speed)


# ----- the official code, imported from its checkout ----------------------------------------------


def load_official(path: Path, ops: str = "cuda") -> types.SimpleNamespace:
    """The official modules we drive: its Renderer, its generator and its EasyDict.

    ops="reference" keeps the official code off its custom CUDA ops (their pure-PyTorch
    fallbacks, which a CPU always uses); "cuda" lets it build and use them on a GPU.
    """
    if not (path / "viz" / "renderer.py").is_file():
        raise SystemExit(f"{path} is not a DragGAN checkout (no viz/renderer.py)")
    sys.path.insert(0, str(path))
    try:
        import matplotlib.cm  # noqa: F401  (the renderer imports it for colour maps only)
    except ImportError:
        stub = types.ModuleType("matplotlib")
        stub.cm = types.ModuleType("matplotlib.cm")
        sys.modules.update({"matplotlib": stub, "matplotlib.cm": stub.cm})
    import dnnlib
    import training.networks_stylegan2 as networks
    import viz.renderer as renderer
    from torch_utils.ops import bias_act, upfirdn2d

    if ops == "reference":
        for module in (bias_act, upfirdn2d):
            module._init = lambda: False  # "no plugin": the official code's own fallback

    return types.SimpleNamespace(
        renderer=renderer, Generator=networks.Generator, EasyDict=dnnlib.EasyDict, path=path
    )


def official_generator(official: types.SimpleNamespace, G: torch.nn.Module) -> torch.nn.Module:
    """The official generator class with our weights (as the GUI uses it: training mode, and
    its parameters left requiring gradients)."""
    kwargs = G.init_kwargs
    theirs = official.Generator(**kwargs)
    theirs.load_state_dict(G.state_dict(), strict=True)
    return theirs.to(next(G.parameters()).device)


def image_difference(G: torch.nn.Module, theirs: torch.nn.Module, ws: torch.Tensor) -> float:
    """Largest pixel difference of the two generators' images of ws (fp32 throughout)."""
    with torch.no_grad():
        ours = G.synthesis(ws, noise_mode="const", force_fp32=True)
        official = theirs.synthesis(ws, noise_mode="const", force_fp32=True)
    return float((ours - official).abs().max())


@contextlib.contextmanager
def papers_disc(official: types.SimpleNamespace) -> Iterator[None]:
    """The official step with the paper's neighbourhood: its distance grid, linspace(0, h, h)
    (pixel i at i * h / (h - 1)), made the pixel grid, so that its disc, already "less than r1",
    is centred on the handle. Nothing else changes."""

    class PixelGrid:
        def __getattr__(self, name: str) -> object:
            return getattr(torch, name)

        @staticmethod
        def linspace(start, end, steps, *args, **kwargs):
            if start == 0 and end == steps:
                return torch.arange(steps, dtype=torch.float32)
            return torch.linspace(start, end, steps, *args, **kwargs)

    module = official.renderer
    module.torch = PixelGrid()
    try:
        yield
    finally:
        module.torch = torch


class OfficialDrag:
    """The official renderer dragging `points` (x, y) toward `targets`, one step per call."""

    def __init__(
        self,
        official: types.SimpleNamespace,
        theirs: torch.nn.Module,
        ws: torch.Tensor,
        points: list[tuple[int, int]],
        targets: list[tuple[int, int]],
        block: int,
        lr: float = LEARNING_RATE,
    ):
        self.official = official
        self.renderer = official.renderer.Renderer(disable_timing=True)
        self.renderer.get_network = lambda *args, **kwargs: theirs
        res = official.EasyDict()
        self.renderer.init_network(res, pkl="stylegan2-dragwidget-bench", w_load=ws, lr=lr)
        if "error" in res:
            raise RuntimeError(f"the official renderer failed: {res.error}")
        names = [f"b{r}" for r in theirs.synthesis.block_resolutions]
        self.feature_idx = names.index(f"b{block}")
        self.points = [[int(y), int(x)] for x, y in points]  # the official's [row, column]
        self.targets = [[int(y), int(x)] for x, y in targets]
        self.stopped = False

    def step(self) -> np.ndarray:
        """One drag step and the frame it renders (H x W x 3 uint8)."""
        res = self.official.EasyDict()
        self.renderer._render_drag_impl(
            res,
            points=self.points,
            targets=self.targets,
            feature_idx=self.feature_idx,
            r1=3,
            r2=12,
            is_drag=True,
        )
        self.stopped = bool(res.stop)
        return res.image.cpu().numpy()

    @property
    def handles(self) -> list[tuple[float, float]]:
        return [(float(x), float(y)) for y, x in self.points]


# ----- timing ------------------------------------------------------------------------------------


def make_clock(device: str) -> Callable[[], float]:
    """CPU time on a CPU (the machine may be busy); wall time after a sync on CUDA."""
    if device == "cuda":

        def clock() -> float:
            torch.cuda.synchronize()
            return time.perf_counter()

        return clock
    return time.process_time


def round_robin(
    contenders: dict[str, Callable[[], object]], reps: int, warmup: int, clock
) -> dict[str, float]:
    """Median seconds of each contender, timed in turns (the order rotates every round)."""
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    for rep in range(warmup + reps):
        shift = rep % len(names)
        for name in names[shift:] + names[:shift]:
            start = clock()
            contenders[name]()
            elapsed = clock() - start
            if rep >= warmup:
                times[name].append(elapsed)
    return {name: statistics.median(values) for name, values in times.items()}


def far_points(h: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Two handles with targets far enough that no drag ends while it is timed."""
    handles = [(round(h * 0.3), round(h * 0.4)), (round(h * 0.6), round(h * 0.5))]
    targets = [(round(h * 0.95), round(h * 0.9)), (round(h * 0.05), round(h * 0.1))]
    return handles, targets


def our_session(G, ws, block: str | None, points, targets, **settings) -> DragSession:
    session = DragSession(
        G, latent=ws, step_size=LEARNING_RATE, feature_layer=block, method="draggan", **settings
    )
    for handle, target in zip(points, targets, strict=True):
        session.add_point(handle, target)
    return session


def time_steps(official, G, theirs, ws, device: str, reps: int, warmup: int) -> dict:
    h = G.img_resolution
    official_block = min(OFFICIAL_BLOCK, h)
    points, targets = far_points(h)
    default = our_session(G, ws, None, points, targets)
    at_official_block = our_session(G, ws, f"b{official_block}", points, targets)
    reference = OfficialDrag(official, theirs, ws, points, targets, official_block)

    def with_frame(session: DragSession) -> Callable[[], object]:
        return lambda: (session.step(), session.step_image())

    medians = round_robin(
        {
            "official": reference.step,
            "ours_step": default.step,
            "ours_step_frame": with_frame(default),
            "ours_b128_step": at_official_block.step,
            "ours_b128_step_frame": with_frame(at_official_block),
        },
        reps,
        warmup,
        make_clock(device),
    )
    default.finish()
    at_official_block.finish()
    return {
        "our_block": default.resolved_settings().feature_layer,
        "official_block": f"b{official_block}",
        **{f"{name}_ms": seconds * 1e3 for name, seconds in medians.items()},
    }


# ----- what the user sees: the widget's loop with frames on demand ------------------------------


def widget_rate(G, ws, steps: int, ack_seconds: float) -> dict:
    """Steps and frames per second of a DragWidget drag whose browser acks each frame
    `ack_seconds` after it was sent: per second of wall time, and per second of this process's
    CPU time (all its threads: what a machine of one's own would give on a shared one)."""
    from dragwidget.widget import DragWidget

    h = G.img_resolution
    points, targets = far_points(h)
    widget = DragWidget(session=our_session(G, ws, None, points, targets))
    stream = widget._stream

    def browser(content: dict, buffers: list) -> None:
        if content.get("type") == "frame" and not content.get("final"):
            frame_id = content["id"]
            threading.Timer(ack_seconds, stream.ack, (frame_id,)).start()

    stream._send = browser  # a browser that takes ack_seconds to draw each frame
    stamps: list[tuple[float, float, int]] = []
    widget.on_step(
        lambda record: stamps.append((time.perf_counter(), time.process_time(), stream.stats.sent))
    )
    widget.start(max_steps=steps)
    widget.wait()
    widget.close()
    (wall0, cpu0, sent0), (wall1, cpu1, sent1) = stamps[0], stamps[-1]
    intervals = len(stamps) - 1
    return {
        "steps_per_s": intervals / (wall1 - wall0),
        "frames_per_s": (sent1 - sent0) / (wall1 - wall0),
        "steps_per_cpu_s": intervals / (cpu1 - cpu0),
        "frames_per_cpu_s": (sent1 - sent0) / (cpu1 - cpu0),
    }


def official_rate(official, theirs, ws, steps: int) -> dict:
    """Steps per second of the official tool (one step and one frame at a time)."""
    h = theirs.img_resolution
    points, targets = far_points(h)
    drag = OfficialDrag(official, theirs, ws, points, targets, min(OFFICIAL_BLOCK, h))
    drag.step()  # its first step builds the reference features: not part of the loop
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(steps):
        drag.step()
    return {
        "steps_per_s": steps / (time.perf_counter() - wall),
        "steps_per_cpu_s": steps / (time.process_time() - cpu),
    }


def user_view(official, G, theirs, ws, rounds: int, steps: int, ack_seconds: float) -> dict:
    ours, reference = [], []
    for _ in range(rounds):
        ours.append(widget_rate(G, ws, steps, ack_seconds))
        reference.append(official_rate(official, theirs, ws, max(3, steps // 4)))
    result = {f"ours_{k}": statistics.median(r[k] for r in ours) for k in ours[0]}
    result.update(
        {f"official_{k}": statistics.median(r[k] for r in reference) for k in reference[0]}
    )
    return result


# ----- fidelity: the same drags in both tools ---------------------------------------------------


def drag_pairs(h: int, count: int, seed: int) -> tuple[list, list]:
    """`count` whole-pixel handles in the middle of the image, each with a target h/5 away."""
    rng = np.random.RandomState(seed)
    handles, targets = [], []
    for _ in range(count):
        x, y = rng.randint(round(0.25 * h), round(0.75 * h), size=2)
        angle = rng.uniform(0, 2 * math.pi)
        tx = int(np.clip(round(x + 0.2 * h * math.cos(angle)), 0, h - 1))
        ty = int(np.clip(round(y + 0.2 * h * math.sin(angle)), 0, h - 1))
        handles.append((int(x), int(y)))
        targets.append((tx, ty))
    return handles, targets


def ties_text(ties: list[int]) -> str:
    return f"{len(ties)} ({', '.join(map(str, ties))})" if ties else "none"


def psnr_text(db: float) -> str:
    return "identical" if math.isinf(db) else f"{db:.1f} dB"


# Nearest-neighbour tracking picks one whole pixel: two candidates whose feature distances differ
# by less than the two implementations' float noise (latents agree to about 2e-5) are a tie that
# either tool may break either way, after which the drags follow different handles.
TIE = 1e-4  # relative difference of squared L2 distances


def follow_official_ties(session: DragSession, reference: OfficialDrag) -> list[int]:
    """Let the open drag's tracker break float ties the way the official just did.

    Where our pick and the official's differ, and our own distance at the official's pick is
    within TIE of our minimum, take the official's. Returns the steps at which a tie was broken
    (a list that grows as the drag runs). Any other disagreement is left to show.
    """
    method = session._drag.method  # the benchmark's one reach into the session: its tracker
    track, ties, step = method.track, [], [1]  # the first step tracks nothing

    def tracked(features, handles, crop=None):
        step[0] += 1
        ours = track(features, handles, crop)
        official = torch.tensor(reference.handles, dtype=ours.dtype, device=ours.device)
        differ = (ours != official).any(dim=1)
        if differ.any():
            both = torch.stack([ours, official], dim=1)
            found = sample_features(features, both, method.img_size, crop)
            distance = (found - method.reference_features[:, None, :]).square().sum(dim=2)
            tie = differ & ((distance[:, 1] - distance[:, 0]).abs() <= TIE * distance[:, 0])
            if tie.any():
                ties.append(step[0])
                ours = torch.where(tie[:, None], official, ours)
        return ours

    method.track = tracked
    return ties


def compare_drags(official, G, theirs, ws, count: int, steps: int, block: int, paper: bool):
    """Largest distance (px) between the handles the two tools track, step by step.

    The official steps first, so that our tracker can break float ties its way (see TIE).
    """
    points, targets = drag_pairs(G.img_resolution, count, seed=count)
    # The official's settings: L2 tracking, its step size; the stop is checked on both sides.
    session = our_session(G, ws, f"b{block}", points, targets, tracking="l2")
    reference = OfficialDrag(official, theirs, ws, points, targets, block)
    worst, compared, ours_image, official_image, ties = 0.0, 0, None, None, []
    with papers_disc(official) if paper else contextlib.nullcontext():
        for _ in range(steps):
            official_image = reference.step()
            record = session.step()
            if compared == 0:  # the first step made the tracker
                ties = follow_official_ties(session, reference)
            ours_image = session.step_image()
            for a, b in zip(record.handles, reference.handles, strict=True):
                worst = max(worst, math.dist(a, b))
            compared += 1
            if record.done or reference.stopped:
                break
    session.finish()
    return {
        "points": count,
        "steps": compared,
        "max_px": worst,
        "ties": ties,
        "final_psnr_db": psnr(ours_image, official_image),
    }


def fidelity(official, G, theirs, ws, steps: int) -> list[dict]:
    block = int(G.synthesis.default_feature_layer[1:])
    rows = []
    for paper in (True, False):
        for count in (1, 2, 5):
            row = compare_drags(official, G, theirs, ws, count, steps, block, paper)
            rows.append({"official_disc": "paper's" if paper else "official", **row})
    return rows


# ----- report ------------------------------------------------------------------------------------


def machine() -> str:
    name = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    threads = torch.get_num_threads()
    return f"{name}, {os.cpu_count()} cores ({threads} torch threads), torch {torch.__version__}"


def model_name(config: str, G: torch.nn.Module) -> str:
    params = sum(p.numel() for p in G.parameters()) / 1e6
    kwargs = G.init_kwargs.get("synthesis_kwargs", {})
    shape = (
        f"{G.img_resolution} px, cbase {kwargs.get('channel_base')}, "
        f"cmax {kwargs.get('channel_max')}, {params:.2f} M params"
    )
    return f"the shipped default model ({shape})" if config == "default" else f"random {shape}"


def print_tables(results: list[dict]) -> None:
    print(f"\n{results[0]['machine']}, {results[0]['date']}")
    if any("timing" in r for r in results):
        print(
            "\n| model | official, step + frame (its block) | ours, default block: step + frame "
            "| step only | ours at the official's block: step + frame | step only |"
        )
        print("| --- | --- | --- | --- | --- | --- |")
    for r in results:
        t = r.get("timing")
        if not t:
            continue
        official = t["official_ms"]
        cells = [
            f"{t[key]:.1f} ms ({official / t[key]:.2f}x)"
            for key in ("ours_step_frame_ms", "ours_step_ms", "ours_b128_step_frame_ms")
        ] + [f"{t['ours_b128_step_ms']:.1f} ms ({official / t['ours_b128_step_ms']:.2f}x)"]
        print(
            f"| {r['model']} | {official:.1f} ms ({t['official_block']}) | "
            f"{cells[0]} ({t['our_block']}) | {cells[1]} | {cells[2]} | {cells[3]} |"
        )
    if any("user" in r for r in results):
        cpu = results[0]["device"] == "cpu"
        unit = "per CPU second" if cpu else "per second"
        key = "_per_cpu_s" if cpu else "_per_s"
        print(
            f"\n| model | official: steps {unit} (a frame each) | ours, frames on demand: steps "
            f"{unit} | frames {unit} | in wall time on this machine: official, ours |"
        )
        print("| --- | --- | --- | --- | --- |")
        for r in results:
            u = r.get("user")
            if u:
                ratio = u[f"ours_steps{key}"] / u[f"official_steps{key}"]
                wall = u["ours_steps_per_s"] / u["official_steps_per_s"]
                print(
                    f"| {r['model']} | {u[f'official_steps{key}']:.1f} | "
                    f"{u[f'ours_steps{key}']:.1f} ({ratio:.2f}x) | {u[f'ours_frames{key}']:.1f} | "
                    f"{u['official_steps_per_s']:.1f}, {u['ours_steps_per_s']:.1f} steps/s "
                    f"({wall:.2f}x) |"
                )
    if any("fidelity" in r for r in results):
        print(
            "\n| model | official neighbourhood | points | steps | handles apart, max "
            "| float ties broken the official's way (at step) | final images, PSNR |"
        )
        print("| --- | --- | --- | --- | --- | --- | --- |")
        for r in results:
            for f in r.get("fidelity", []):
                print(
                    f"| {r['model']} | {f['official_disc']} | {f['points']} | {f['steps']} | "
                    f"{f['max_px']:.2f} px | {ties_text(f.get('ties', []))} | "
                    f"{psnr_text(f['final_psnr_db'])} |"
                )


def run_model(config: str, official, args) -> dict:
    device = args.device
    settings = dict(CONFIGS[config], device=device)
    G = build(settings)
    ws = latent_from_seed(G, args.seed, truncation_psi=0.7, device=torch.device(device))
    theirs = official_generator(official, G)
    difference = image_difference(G, theirs, ws)
    result = {
        "config": config,
        "device": device,
        "model": model_name(config, G),
        "machine": machine() if device == "cpu" else torch.cuda.get_device_name(),
        "date": datetime.date.today().isoformat(),
        "official_ops": args.official_ops if device == "cuda" else "reference (CPU)",
        "same_image_max_abs": difference,
    }
    print(f"{result['model']}: the two generators' images differ by at most {difference:.2e}")
    if difference > 1e-4:
        raise SystemExit("the generators disagree (> 1e-4): the comparison would be meaningless")
    if "timing" in args.only:
        result["timing"] = time_steps(official, G, theirs, ws, device, args.reps, args.warmup)
        print(f"  timing: {json.dumps(result['timing'])}", flush=True)
    if "user" in args.only:
        result["user"] = user_view(
            official, G, theirs, ws, args.rounds, args.widget_steps, args.ack_ms / 1e3
        )
        print(f"  user's view: {json.dumps(result['user'])}", flush=True)
    if "fidelity" in args.only and config in args.fidelity_models:
        result["fidelity"] = fidelity(official, G, theirs, ws, args.fidelity_steps)
        print(f"  fidelity: {json.dumps(result['fidelity'])}", flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official", type=Path, default=os.environ.get("DRAGGAN_OFFICIAL"),
        help="a checkout of github.com/XingangPan/DragGAN (or set DRAGGAN_OFFICIAL)",
    )  # fmt: skip
    parser.add_argument("--models", nargs="+", default=["default", "cpu-128", "cpu-256"])
    parser.add_argument("--only", nargs="+", default=["timing", "user", "fidelity"])
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument(
        "--official-ops", default="cuda", choices=["cuda", "reference"],
        help="on CUDA: the official custom ops, or their pure-PyTorch fallback",
    )  # fmt: skip
    parser.add_argument("--reps", type=int, default=15, help="timed rounds (medians)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="widget/official rounds")
    parser.add_argument("--widget-steps", type=int, default=40, help="steps per widget round")
    parser.add_argument("--ack-ms", type=float, default=35.0, help="the browser's draw + ack")
    parser.add_argument("--fidelity-steps", type=int, default=100)
    parser.add_argument("--fidelity-models", nargs="+", default=["default"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if not args.official:
        print(
            "vs_official.py needs a checkout of the official DragGAN: pass --official PATH or set "
            "DRAGGAN_OFFICIAL (nothing measured)."
        )
        return
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: no CUDA device here")
    official = load_official(args.official.resolve(), args.official_ops)
    warnings.filterwarnings("ignore", message="torch.meshgrid")  # the official code's call
    torch.manual_seed(0)
    results = [run_model(config, official, args) for config in args.models]
    print_tables(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
