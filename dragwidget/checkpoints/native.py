"""Our own format: one safetensors file, with the generator's config in its metadata.

The tensors are the state dict with the official names (float32, or float16 to halve the file).
The safetensors header's `__metadata__` (string to string) holds:
    format          "dragwidget.generator"
    format_version  "1"
    kind            "stylegan2" | "stylegan3"
    init_kwargs     the constructor's keyword arguments, as JSON
One file, so the config cannot be lost or mismatched, and any safetensors tool shows it. A
safetensors file without this metadata but with the official names also loads (kwargs inferred).
"""

from __future__ import annotations

import json
import os
import struct
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from dragwidget.checkpoints.build import KINDS, detect_kind
from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.checkpoints.kwargs import plain

FORMAT = "dragwidget.generator"
FORMAT_VERSION = 1


def save_generator(
    generator: nn.Module, path: str | os.PathLike, dtype: torch.dtype | None = None
) -> Path:
    """Write `generator` (weights with official names, plus `init_kwargs`) to `path`.

    `dtype=torch.float16` stores floating tensors in half precision; they load back as float32.
    """
    path = Path(path)
    sd = generator.state_dict()
    kind = detect_kind(sd, type(generator).__name__)
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "kind": kind,
        "init_kwargs": json.dumps(plain(generator.init_kwargs)),
    }
    tensors = {}
    for key, t in sd.items():
        t = t.detach().to("cpu", dtype if dtype is not None and t.is_floating_point() else None)
        tensors[key] = t.contiguous().clone()  # safetensors refuses tensors that share memory
    tmp = path.with_name(path.name + ".partial")
    save_file(tensors, tmp, metadata=metadata)
    tmp.chmod(0o644)  # safetensors writes 0600; a generator file is meant to be shared
    os.replace(tmp, path)  # a reader never sees half a file
    return path


def read(path: Path) -> tuple[dict[str, torch.Tensor], str | None, dict | None, str]:
    """State dict; kind and init kwargs when the file is ours (else None, None); format name."""
    with open(path, "rb") as f:
        (header_length,) = struct.unpack("<Q", f.read(8))
    if 8 + header_length > path.stat().st_size:
        raise CheckpointError(f"{path}: the file ends early (truncated?) within its header")
    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            sd = {key: f.get_tensor(key) for key in f.keys()}
    except Exception as e:  # the Rust reader has one error type for every problem
        if "not fully covered" in str(e):
            raise CheckpointError(f"{path}: the file ends early (truncated?): {e}") from None
        raise CheckpointError(f"{path}: not a readable safetensors file: {e}") from None
    fmt = "dragwidget safetensors"
    if metadata.get("format") != FORMAT:
        return sd, None, None, "safetensors state dict"
    version = str(metadata.get("format_version", metadata.get("version", "")))
    if not version.isdigit() or int(version) > FORMAT_VERSION:
        raise CheckpointError(
            f"{path}: format version {version!r}: written by a newer dragwidget? "
            f"This one reads up to {FORMAT_VERSION}."
        )
    kind = metadata.get("kind")
    if kind not in KINDS:
        raise CheckpointError(f"{path}: unknown kind {kind!r}; supported: {', '.join(KINDS)}")
    init_kwargs = metadata.get("init_kwargs")
    try:
        init_kwargs = json.loads(init_kwargs) if isinstance(init_kwargs, str) else init_kwargs
    except (ValueError, RecursionError) as e:  # not JSON; numbers too long; nested too deep
        raise CheckpointError(f"{path}: its init_kwargs are not readable JSON: {e}") from None
    if not isinstance(init_kwargs, dict):
        raise CheckpointError(f"{path}: its init_kwargs are a {type(init_kwargs).__name__}")
    return sd, kind, init_kwargs, fmt
