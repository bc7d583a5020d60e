"""The shipping format of a trained generator: one fp16 safetensors file with its config inside.

The format itself (official tensor names, init kwargs in the metadata) is defined once, in
dragwidget.checkpoints.native; this is only the training loop's call of it.
"""

from __future__ import annotations

from pathlib import Path

import torch

from dragwidget.checkpoints import save_generator
from dragwidget.networks.stylegan2 import Generator

WEIGHTS_NAME = "generator.safetensors"


def export_generator(G: Generator, out_dir: str | Path) -> Path:
    """Write G_ema (fp16) to out_dir/generator.safetensors, readable by load_generator."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    return save_generator(G, out_dir / WEIGHTS_NAME, dtype=torch.float16)
