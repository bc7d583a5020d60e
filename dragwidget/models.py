"""Command line for generator files: `python -m dragwidget.models info PATH [--json]`.

Reads the file the way load_generator does (safely: no code from the file runs) and prints what
it holds: kind, image size, latent sizes, layers and channels, number of parameters.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from dragwidget.checkpoints import CheckpointError, read_checkpoint
from dragwidget.checkpoints.build import check_state_dict, skeleton
from dragwidget.messages import shorten


def info(path: str) -> dict[str, Any]:
    """The facts of a generator file, as a JSON-able dict."""
    ckpt = read_checkpoint(path)
    G = skeleton(ckpt.kind, ckpt.init_kwargs, str(ckpt.path), ckpt.state_dict)  # no weights drawn
    check_state_dict(G, ckpt.state_dict, ckpt.kind, str(ckpt.path))
    sd = ckpt.state_dict
    height, width = G.synthesis.img_size
    if ckpt.kind == "stylegan2":
        architecture = G.init_kwargs["synthesis_kwargs"].get("architecture", "skip")
        blocks = [(str(r), f"b{r}.conv1") for r in G.synthesis.block_resolutions]
    else:
        architecture = "R" if G.init_kwargs.get("use_radial_filters") else "T"
        blocks = [(name, name) for name in G.synthesis.layer_names]
    channels = {label: sd[f"synthesis.{layer}.weight"].shape[0] for label, layer in blocks}
    return {
        "path": str(ckpt.path),
        "format": ckpt.format,
        "kind": ckpt.kind,
        "architecture": architecture,
        "resolution": [height, width],
        "img_channels": G.img_channels,
        "z_dim": G.z_dim,
        "w_dim": G.w_dim,
        "c_dim": G.c_dim,
        "mapping_layers": sum(bool(re.fullmatch(r"mapping\.fc\d+\.weight", k)) for k in sd),
        "num_ws": G.num_ws,
        "channels": channels,
        "parameters": sum(p.numel() for p in G.parameters()),
        "buffers": sum(b.numel() for b in G.buffers()),
        "init_kwargs": ckpt.init_kwargs,
    }


def format_info(facts: dict[str, Any]) -> str:
    h, w = facts["resolution"]
    channels = "  ".join(f"{k}:{v}" for k, v in facts["channels"].items())
    rows = [
        ("file", facts["path"]),
        ("format", facts["format"]),
        ("kind", f"{facts['kind']} ({facts['architecture']})"),
        ("resolution", f"{h} x {w} (H x W), {facts['img_channels']} channels"),
        ("latents", f"z_dim {facts['z_dim']}, w_dim {facts['w_dim']}, c_dim {facts['c_dim']}"),
        ("mapping", f"{facts['mapping_layers']} layers"),
        ("num_ws", str(facts["num_ws"])),
        ("channels", channels),
        ("parameters", f"{facts['parameters']:,} (+ {facts['buffers']:,} in buffers)"),
    ]
    return "\n".join(f"{name:<12}{value}" for name, value in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dragwidget.models", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    p_info = commands.add_parser("info", help="what a generator file holds (read safely)")
    p_info.add_argument("path")
    p_info.add_argument("--json", action="store_true", help="print the facts as JSON")
    args = parser.parse_args(argv)
    try:
        facts = info(args.path)
    except (CheckpointError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # a bug, but still a failure: say so and exit non-zero
        print(f"error: {args.path}: {type(e).__name__}: {shorten(str(e))}", file=sys.stderr)
        return 1
    print(json.dumps(facts, indent=2) if args.json else format_info(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
