"""NVIDIA's PyTorch network pickles (StyleGAN2-ADA, StyleGAN3, StyleGAN-Human): G_ema's weights.

Such a pickle is a dict {G, D, G_ema, augment_pipe, training_set_kwargs}. Each network is a
persistent record (see safe_pickle) whose `state` is the module's `__dict__`: `_parameters`,
`_buffers`, `_modules` (child records), `_non_persistent_buffers_set`, `_init_kwargs`, plain
attributes. We walk G_ema's records into a flat state dict with the official names and read only
those tensors; the other networks' tensors stay on disk, unread.
"""

from __future__ import annotations

from typing import Any

import torch

from dragwidget.checkpoints.build import detect_kind
from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.checkpoints.kwargs import plain
from dragwidget.checkpoints.safe_pickle import TensorRecord, materialize


def is_record(obj: Any) -> bool:
    return (
        isinstance(obj, dict) and obj.get("type") == "class" and isinstance(obj.get("state"), dict)
    )


def is_network_pickle(obj: Any) -> bool:
    return isinstance(obj, dict) and any(is_record(v) for v in obj.values())


def _walk(record: dict, prefix: str, out: dict[str, TensorRecord], name: str) -> None:
    state = record["state"]
    non_persistent = {k for k in state.get("_non_persistent_buffers_set") or () if type(k) is str}
    buffers = {k: v for k, v in (state.get("_buffers") or {}).items() if k not in non_persistent}
    for key, tensor in [*(state.get("_parameters") or {}).items(), *buffers.items()]:
        if type(key) is not str:
            raise CheckpointError(f"{name}: G_ema.{prefix}: a tensor named by a {type(key)}")
        if tensor is None:  # a buffer registered as None (StyleGAN3's identity filters)
            continue
        if not isinstance(tensor, TensorRecord):
            raise CheckpointError(f"{name}: G_ema.{prefix}{key} is a {type(tensor).__name__}")
        out[prefix + key] = tensor
    for key, child in (state.get("_modules") or {}).items():
        if type(key) is not str:
            raise CheckpointError(f"{name}: G_ema.{prefix}: a module named by a {type(key)}")
        if child is None:
            continue
        if not is_record(child):
            raise CheckpointError(f"{name}: G_ema.{prefix}{key} is not a network record")
        _walk(child, f"{prefix}{key}.", out, name)


def read(obj: dict, name: str) -> tuple[dict[str, torch.Tensor], dict]:
    """G_ema's state dict (official names) and its stored constructor kwargs."""
    if not is_record(obj.get("G_ema")):
        raise CheckpointError(
            f"{name}: a network pickle without G_ema: found the keys {sorted(map(str, obj))}"
        )
    g_ema = obj["G_ema"]
    if g_ema["state"].get("_init_args"):
        raise CheckpointError(f"{name}: G_ema was built with positional arguments: unsupported")
    records: dict[str, TensorRecord] = {}
    _walk(g_ema, "", records, name)
    try:
        detect_kind(records, name)  # before reading any tensor
    except CheckpointError as e:
        raise CheckpointError(
            f"{e} (the pickle holds {sorted(map(str, obj))}; G_ema is a "
            f"{g_ema.get('class_name')!r})"
        ) from None
    state_dict = {k: materialize(t, name, f"tensor G_ema.{k}") for k, t in records.items()}
    return state_dict, plain(g_ema["state"].get("_init_kwargs") or {})
