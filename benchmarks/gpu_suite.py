"""Every GPU check in one run, sized to a short loan of a GPU machine.

    DRAGGAN_OFFICIAL=/path/to/DragGAN python benchmarks/gpu_suite.py --out DIR [--budget 420]

1. the official code's custom CUDA ops: built in a subprocess with a time limit (they need nvcc
   and a matching compiler; the build is cached for a rerun);
2. benchmarks/vs_official.py on CUDA at 512 px config-f (fp16 in the top four resolutions, as in
   the official pickles): the official step with its CUDA ops when they built, else with their
   reference fallback (and, time permitting, both), against ours; plus the widget's loop with
   frames on demand (the user's view);
3. our step in fp32, in the pickles' fp16 and under bf16 autocast: time per step and step + frame,
   the features' error against fp32 and how far 100-step drags track from the fp32 drag;
4. the real browser stream (benchmarks/widget_stream.py) if JupyterLab and Chromium are there.

Each part runs under its own time limit and the budget; a part that fails is reported and the rest
go on. Results: <out>/summary.md and one JSON file per part.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


class Budget:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()


def run(cmd: list[str], timeout: float, log: Path) -> tuple[int, str]:
    """Run a command with a time limit; its output goes to `log`. (returncode, last lines)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    try:
        done = subprocess.run(
            cmd, capture_output=True, text=True, timeout=max(1.0, timeout), env=env, cwd=ROOT
        )
        output, code = done.stdout + done.stderr, done.returncode
    except subprocess.TimeoutExpired as e:
        output = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        output, code = output + f"\n[timed out after {timeout:.0f} s]", 124
    log.write_text(output)
    return code, "\n".join(output.strip().splitlines()[-25:])


def build_official_ops(official: Path, timeout: float, out: Path) -> bool:
    code = (
        f"import sys; sys.path.insert(0, {str(official)!r}); "
        "from torch_utils.ops import bias_act, upfirdn2d; "
        "bias_act._init(); upfirdn2d._init(); print('built')"
    )
    status, tail = run([sys.executable, "-c", code], timeout, out / "official_ops_build.log")
    return status == 0 and "built" in tail


def precision(out: Path, steps: int, reps: int, device: str, config: str) -> dict:
    """Our step in fp32, fp16 (top four resolutions) and bf16 autocast, on one 512 px model."""
    sys.path.insert(0, str(HERE))
    from drag_speed import CONFIGS, build

    from dragwidget.drag import DragSession
    from dragwidget.drag.session import latent_from_seed

    G16 = build({**CONFIGS[config], "device": device})  # num_fp16_res=4 on CUDA
    kwargs = json.loads(json.dumps(G16.init_kwargs))
    kwargs["synthesis_kwargs"]["num_fp16_res"] = 0
    G32 = type(G16)(**kwargs).to(device).eval().requires_grad_(False)
    G32.load_state_dict(G16.state_dict())
    ws = latent_from_seed(G32, 0, 0.7, torch.device(device))
    h = G32.img_resolution
    points = [((0.3 * h, 0.4 * h), (0.5 * h, 0.45 * h)), ((0.6 * h, 0.5 * h), (0.45 * h, 0.3 * h))]

    def session(G):
        s = DragSession(G, latent=ws, method="draggan")
        for handle, target in points:
            s.add_point(handle, target)
        return s

    modes = {
        "fp32": (G32, None),
        "fp16 (top 4 resolutions)": (G16, None),
        "bf16 autocast": (G32, torch.bfloat16),
    }

    def in_mode(autocast_dtype, fn):
        if autocast_dtype is None:
            return fn()
        with torch.autocast(device, dtype=autocast_dtype):
            return fn()

    layer = G32.synthesis.default_feature_layer
    with torch.no_grad():
        _, reference = G32.synthesis(ws, feature_layer=layer, with_image=False)
    results = {}
    trajectories = {}
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    for name, (G, dtype) in modes.items():
        with torch.no_grad():
            _, features = in_mode(
                dtype, lambda G=G: G.synthesis(ws, feature_layer=layer, with_image=False)
            )
        error = float((features.float() - reference).abs().max() / reference.abs().max())
        s = session(G)
        track = []
        for _ in range(steps):
            record = in_mode(dtype, s.step)
            track.append(record.handles)
            if record.done:
                break
        trajectories[name] = track
        s.finish()
        s = session(G)
        times, framed = [], []
        for rep in range(reps + 3):
            sync()
            start = time.perf_counter()
            in_mode(dtype, s.step)
            sync()
            middle = time.perf_counter()
            in_mode(dtype, s.step_image)
            sync()
            if rep >= 3:
                times.append(middle - start)
                framed.append(time.perf_counter() - start)
        s.finish()
        results[name] = {
            "step_ms": statistics.median(times) * 1e3,
            "step_frame_ms": statistics.median(framed) * 1e3,
            "features_max_rel_error": error,
        }
    for name, track in trajectories.items():
        common = min(len(track), len(trajectories["fp32"]))
        apart = [
            max(
                ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
                for a, b in zip(track[i], trajectories["fp32"][i], strict=True)
            )
            for i in range(common)
        ]
        results[name]["trajectory_max_px_from_fp32"] = max(apart) if apart else 0.0
        results[name]["steps_compared"] = common
    (out / "precision.json").write_text(json.dumps(results, indent=1))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=os.environ.get("DRAGGAN_OFFICIAL"))
    parser.add_argument("--out", type=Path, default=Path("gpu_results"))
    parser.add_argument("--budget", type=float, default=420, help="seconds for the whole suite")
    parser.add_argument("--ops-timeout", type=float, default=150)
    parser.add_argument("--reps", type=int, default=20)
    # Every part on the CPU with the small default model: a check of this script, not a benchmark.
    parser.add_argument("--smoke-test-on-cpu", action="store_true")
    args = parser.parse_args()
    device, model = ("cpu", "default") if args.smoke_test_on_cpu else ("cuda", "gpu-512")
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_suite.py: no CUDA device here")
    args.out.mkdir(parents=True, exist_ok=True)
    budget = Budget(args.budget)
    summary = [
        f"# GPU suite, {time.strftime('%Y-%m-%d')}",
        f"{torch.cuda.get_device_name() if device == 'cuda' else 'CPU smoke test'}, "
        f"torch {torch.__version__}, CUDA {torch.version.cuda}",
        "",
    ]

    def part(title: str, fn) -> None:
        summary.append(f"## {title}")
        if budget.left() < 20:
            summary.append("skipped: out of time\n")
            return
        started = time.monotonic()
        try:
            summary.append(fn())
        except Exception:  # noqa: BLE001  (one part failing must not lose the others)
            summary.append("failed:\n```\n" + traceback.format_exc()[-3000:] + "```")
        summary.append(f"({time.monotonic() - started:.0f} s)\n")
        (args.out / "summary.md").write_text("\n".join(summary))

    ops = {"built": False}

    if args.official:
        official = args.official.resolve()

        def official_ops() -> str:
            ops["built"] = build_official_ops(
                official, min(args.ops_timeout, budget.left() - 60), args.out
            )
            return "built" if ops["built"] else "did not build: the reference fallback is used"

        part("official custom CUDA ops", official_ops)

        def side_by_side(kind: str) -> str:
            json_path = args.out / f"vs_official_{kind}.json"
            cmd = [
                sys.executable, str(HERE / "vs_official.py"), "--official", str(official),
                "--device", device, "--official-ops", kind, "--models", model,
                "--only", "timing", "user", "--reps", str(args.reps), "--rounds", "2",
                "--widget-steps", "60", "--json", str(json_path),
            ]  # fmt: skip
            code, tail = run(cmd, budget.left() - 30, args.out / f"vs_official_{kind}.log")
            return f"exit {code}\n```\n{tail}\n```"

        first = "cuda" if ops["built"] else "reference"
        part(f"side by side, official with {first} ops", lambda: side_by_side(first))
        if ops["built"] and budget.left() > 150:
            part("side by side, official with reference ops", lambda: side_by_side("reference"))
    else:
        summary.append(
            "no official checkout (--official or DRAGGAN_OFFICIAL): side by side skipped"
        )

    def precision_part() -> str:
        results = precision(args.out, steps=100, reps=args.reps, device=device, config=model)
        lines = ["| mode | step | step + frame | features, max rel. error | drag vs fp32 |"]
        lines.append("| --- | --- | --- | --- | --- |")
        for name, r in results.items():
            lines.append(
                f"| {name} | {r['step_ms']:.2f} ms | {r['step_frame_ms']:.2f} ms | "
                f"{r['features_max_rel_error']:.1e} | {r['trajectory_max_px_from_fp32']:.1f} px "
                f"over {r['steps_compared']} steps |"
            )
        return "\n".join(lines)

    part("our step in fp32 / fp16 / bf16", precision_part)

    def browser_stream() -> str:
        sys.path.insert(0, str(ROOT / "tests"))
        from jupyter_browser import missing_requirements

        if reason := missing_requirements():
            return f"skipped: {reason}"
        if device != "cuda":
            return "skipped: a GPU check"
        cmd = [sys.executable, str(HERE / "widget_stream.py"), "--sizes", "512", "--repeats", "5"]
        code, tail = run(cmd, budget.left() - 10, args.out / "widget_stream.log")
        return f"exit {code}\n```\n{tail}\n```"

    part("widget stream in a real browser", browser_stream)
    print("\n".join(summary))


if __name__ == "__main__":
    main()
