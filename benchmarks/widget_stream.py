"""Frame streaming of DragWidget in a real front end (headless Chromium): fps, latency, encode time.

    python benchmarks/widget_stream.py [--front-end lab|notebook|marimo] [--sizes 256 512]
        [--seconds 4] [--repeats 12] [--nodelay]

For each size it opens a notebook showing a DragWidget on a random, narrow StyleGAN2 and measures:

- real drag: kernel steps/s and frames drawn/s in the browser (on a CPU the step rate bounds fps);
- replay: the same widget with `session.step` replaced by a 10 ms replay of real frames (a fast
  GPU's rate), which measures the streaming path itself: frames drawn/s (goal: 25 fps at 512 px);
- click-to-frame: a click on Start until the first frame is drawn, in replay mode (goal p50 <= 60
  ms);
- kernel-side JPEG encode time per frame and the frame size.

--nodelay loads benchmarks/nodelay_ext.py into the Jupyter server (TCP_NODELAY on the kernel
websockets, which only the server can set) to show what Nagle's algorithm costs.

Frames drawn are counted in the page by wrapping the image canvas's drawImage.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from front_ends import FRONT_ENDS, open_front_end  # noqa: E402
from jupyter_browser import missing_requirements, read_json, wait_for  # noqa: E402

SETUP = """
import json, os, time
from pathlib import Path
from conftest import small_stylegan2
from dragwidget.drag import StepRecord
from dragwidget.widget import DragWidget

SIZE = {size}
w = DragWidget(small_stylegan2(SIZE), seed=0, step_size=2e-3, max_steps=100_000)
c = SIZE / 2
w.add_point((c, c), (c + SIZE / 4, c))
w._stream.window = {window}
IMAGES = []  # real frames, replayed in the fast mode
w.session.run(max_steps=4, render=True, on_step=lambda r: IMAGES.append(r.image))
w.session.undo()
w.refresh()
STEPS = []
w.on_step(lambda r: STEPS.append(time.perf_counter()))

def replay_step(render=False):
    time.sleep(0.01)
    i = len(STEPS)  # cleared at each start
    return StepRecord(i + 1, [(c, c)], [SIZE / 4], 0.0, False, IMAGES[i % len(IMAGES)])

def dump(change):
    if change["new"]:  # a drag starts: time its steps alone
        STEPS.clear()
        return
    enc = sorted(w.encode_seconds)
    t = STEPS
    stats = {{
        "steps": len(t),
        "steps_per_s": (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 else None,
        "encode_ms_p50": 1000 * enc[len(enc) // 2] if enc else None,
        "jpeg_kb": sum(map(len, w.trajectory[:-1])) / max(1, len(w.trajectory) - 1) / 1000,
        "sent": w.frame_stats.sent, "acked": w.frame_stats.acked,
        "dropped": w.frame_stats.dropped, "timed_out": w.frame_stats.timed_out,
    }}
    Path("stats.tmp").write_text(json.dumps(stats))
    os.replace("stats.tmp", "stats.json")

w.canvas.observe(dump, "running")
w
"""
REPLAY = "w.session.step = replay_step"

# Every draw of the image canvas, timed (the canvas is reached through playwright's locator, which
# also finds it in marimo's shadow roots).
HOOK = """(canvas) => {
  const ctx = canvas.getContext('2d');
  if (!ctx.__dwHooked) {
    const draw = ctx.drawImage.bind(ctx);
    window.dwDraws = [];
    ctx.drawImage = (...args) => { window.dwDraws.push(performance.now()); return draw(...args); };
    ctx.__dwHooked = true;
  }
}"""
CLICK = "(button) => { const t = performance.now(); button.click(); return t; }"


def draws(page) -> list[float]:
    return page.evaluate("window.dwDraws.slice()")


def press(front, name: str) -> float:
    """Click the panel's Start or Stop button in the page; returns the click's page time (ms)."""
    button = front.button(name)
    wait_for(button.is_enabled, timeout=30)
    return button.evaluate(CLICK)


def wait_idle(front, root: Path, previous: dict | None) -> dict:
    """Until the drag has ended and its final frame is drawn; the kernel's stats."""
    page = front.page
    stats = wait_for(
        lambda: (s := read_json(root / "stats.json")) and s != previous and s, timeout=60
    )
    wait_for(front.button("Start").is_enabled, timeout=30)
    settled = len(draws(page))
    time.sleep(0.3)
    while len(draws(page)) != settled:  # the final PNG may still be on its way
        settled = len(draws(page))
        time.sleep(0.3)
    return stats


def fps_during(front, seconds: float) -> tuple[float, int]:
    page = front.page
    before = len(draws(page))
    press(front, "Start")
    time.sleep(seconds)
    during = draws(page)[before:]
    press(front, "Stop")
    if len(during) < 2:
        return 0.0, len(during)
    return (len(during) - 1) / ((during[-1] - during[0]) / 1000), len(during)


def measure(
    size: int,
    seconds: float,
    repeats: int,
    nodelay: bool = False,
    window: int = 1,
    front_end: str = "lab",
) -> dict:
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        root = Path(tmp)
        server_args = {}
        if nodelay:
            server_args = {
                "extra_args": ("--ServerApp.jpserver_extensions={'nodelay_ext': True}",),
                "extra_path": (str(Path(__file__).resolve().parent),),
            }
        setup = SETUP.format(size=size, window=window)
        with open_front_end(
            front_end, root, setup, (REPLAY,), viewport=(1400, 1300), server_args=server_args
        ) as front:
            page = front.page
            canvas = page.locator(".dw-image").first
            wait_for(lambda: canvas.evaluate("c => c.width") == size, timeout=120)
            canvas.evaluate(HOOK)
            out: dict = {"size": size, "front_end": front_end}

            # a real drag (includes the one-time first-step warm-up: skip the first second)
            press(front, "Start")
            time.sleep(1.0)
            press(front, "Stop")
            real = wait_idle(front, root, None)
            fps, n = fps_during(front, seconds)
            real = wait_idle(front, root, real)
            out["real"] = {"fps_drawn": fps, "frames": n, **real}

            # replay: the streaming path at a fast GPU's step rate
            front.run(1)
            time.sleep(1.0)  # (marimo runs it from a button: give the kernel a moment)
            fps, n = fps_during(front, seconds)
            replay = wait_idle(front, root, real)
            out["replay"] = {"fps_drawn": fps, "frames": n, **replay}

            latencies = []
            for _ in range(repeats):
                before = len(draws(page))
                t0 = press(front, "Start")
                wait_for(lambda b=before: len(draws(page)) > b, timeout=30)
                latencies.append(draws(page)[before] - t0)
                press(front, "Stop")
                replay = wait_idle(front, root, replay)
            out["click_to_frame_ms"] = latencies
            page.screenshot(path=f"/tmp/dw_bench_{front_end}_{size}.png")
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeats", type=int, default=12)
    parser.add_argument("--nodelay", action="store_true", help="TCP_NODELAY in the server")
    parser.add_argument("--window", type=int, default=1, help="frames in flight (protocol: 1)")
    parser.add_argument("--front-end", choices=FRONT_ENDS, default="lab")
    args = parser.parse_args()
    if reason := missing_requirements():
        sys.exit(f"cannot run: {reason}")
    if args.nodelay and args.front_end == "marimo":
        sys.exit("--nodelay is for the Jupyter server")
    results = [
        measure(size, args.seconds, args.repeats, args.nodelay, args.window, args.front_end)
        for size in args.sizes
    ]
    print()
    for r in results:
        lat = sorted(r["click_to_frame_ms"])
        p50 = statistics.median(lat)
        p90 = lat[min(len(lat) - 1, round(0.9 * (len(lat) - 1)))]
        real, replay = r["real"], r["replay"]
        print(f"{r['size']} px, {r['front_end']}")
        print(
            f"  real drag : {real['steps_per_s']:.1f} steps/s in the kernel, "
            f"{real['fps_drawn']:.1f} frames/s drawn"
        )
        print(
            f"  replay    : {replay['steps_per_s']:.1f} steps/s, "
            f"{replay['fps_drawn']:.1f} frames/s drawn (sent {replay['sent']}, "
            f"acked {replay['acked']}, dropped {replay['dropped']}, "
            f"ack timeouts {replay['timed_out']})"
        )
        print(f"  click->first frame: p50 {p50:.0f} ms, p90 {p90:.0f} ms (n={len(lat)})")
        print(
            f"  JPEG: encode p50 {real['encode_ms_p50']:.1f} ms (real), "
            f"{replay['encode_ms_p50']:.1f} ms (replay); {real['jpeg_kb']:.0f} KB a frame"
        )
    print(json.dumps(results))


if __name__ == "__main__":
    main()
