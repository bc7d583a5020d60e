"""The shipping format of a trained generator: generator.safetensors + generator.json.

The safetensors file holds every parameter and buffer of G_ema (official names) as fp16; the JSON
file says what it is and how to build the module that the state dict loads into.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_file

from dragwidget.networks.stylegan2 import Generator

WEIGHTS_NAME = "generator.safetensors"
CONFIG_NAME = "generator.json"


def export_generator(G: Generator, out_dir: str | Path) -> tuple[Path, Path]:
    """Write G's state dict (fp16) and its description into out_dir; returns both paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {
        name: value.detach().to("cpu", torch.float16).contiguous()
        for name, value in G.state_dict().items()
    }
    weights, config = out_dir / WEIGHTS_NAME, out_dir / CONFIG_NAME
    save_file(tensors, str(weights), metadata={"format": "dragwidget-generator"})
    weights.chmod(0o644)  # safetensors writes 0600; this file is meant to be shipped and read
    description = {
        "format": "dragwidget-generator",
        "version": 1,
        "kind": "stylegan2",
        "init_kwargs": G.init_kwargs,
    }
    config.write_text(json.dumps(description, indent=2) + "\n")
    return weights, config
