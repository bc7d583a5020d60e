"""What a checkpoint may ask of us, stated once: the limits every reader enforces.

A file beyond any of them is refused before it can cost much memory or time. Real checkpoints are
far inside each one: the figures in brackets are those of an official-layout 512 px StyleGAN2
pickle with G, D and G_ema (364 MB).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import torch

from dragwidget.checkpoints.errors import CheckpointError, UnsafeCheckpointError

# A pickle, as our unpickler reads it (safe_pickle.py, torch_pickles.py).
MAX_PICKLE_OPCODES = 1_000_000  # (32 thousand); so at most some 100 MB of Python objects
MAX_PICKLE_DEPTH = 100  # containers inside containers (17)
MAX_PICKLE_ITEMS = 1_000_000  # the structure written out as a tree, shared parts counted each time
MAX_CONTAINER_REUSES = 10_000  # a tuple, list, dict or set referenced once more (2)
MAX_TEXT_LINE = 1 << 16  # the text opcodes of old protocols (a GLOBAL's names, an INT)

# Tensors: the bytes they take, against the file's size. Tensors that share storage or overlap
# (a stride of 0: an "expanded" tensor) can make a few bytes on disk gigabytes in memory once
# copied; a real checkpoint's tensors never overlap and take at most the file's size.
TENSOR_BYTES_PER_FILE_BYTE = 2
TENSOR_BYTES_SLACK = 1 << 20  # what the readers add themselves (filters, estimated w_avg)
MAX_TENSOR_DIMS = 8

# Stored constructor arguments (build.check_init_kwargs), by name, wherever they appear.
# Those that decide a tensor's shape must also agree with the file's tensors.
INT_KWARGS = {
    "z_dim": (1, 4096),
    "w_dim": (1, 4096),
    "c_dim": (0, 1 << 16),
    "img_resolution": (4, 8192),
    "img_channels": (1, 16),
    "num_layers": (1, 64),
    "embed_features": (0, 4096),
    "layer_features": (1, 4096),
    "channel_base": (1, 1 << 22),
    "channel_max": (1, 8192),
    "num_fp16_res": (0, 32),
    "num_critical": (0, 64),
    "conv_kernel": (1, 7),
    "filter_size": (1, 16),
    "lrelu_upsampling": (1, 8),
    "margin_size": (0, 256),
}
FLOAT_KWARGS = {  # (low, high), both open: a positive number below `high`
    "lr_multiplier": (0.0, 1e4),
    "conv_clamp": (0.0, 1e6),
    "first_cutoff": (0.0, 8192.0),
    "first_stopband": (0.0, 8192.0),
    "last_stopband_rel": (0.0, 64.0),
}
MAX_KWARG_NUMBER = 1 << 22  # any other number, in absolute value
MAX_KWARG_ITEMS = 64  # items of a list or dict
MAX_KWARG_TEXT = 256  # characters of a string
MAX_KWARG_DEPTH = 4


def check_view(
    shape: Sequence[int], stride: Sequence[int], offset: int, storage_numel: int | None, what: str
) -> None:
    """A tensor's view of its storage: whole numbers, in bounds, and no element seen twice."""
    numbers = [*shape, *stride, offset]
    if not all(type(n) is int for n in numbers):
        raise CheckpointError(f"{what}: shape, strides and offset must be integers")
    if len(shape) != len(stride) or len(shape) > MAX_TENSOR_DIMS:
        raise CheckpointError(
            f"{what}: {len(shape)} sizes and {len(stride)} strides (at most {MAX_TENSOR_DIMS})"
        )
    if min(numbers, default=0) < 0:
        raise CheckpointError(f"{what}: a negative size, stride or offset")
    if 0 in shape:
        return
    extent = 0  # the furthest element the dimensions seen so far reach
    for size, step in sorted((p for p in zip(shape, stride, strict=True) if p[0] > 1), key=_step):
        if step <= extent:
            raise UnsafeCheckpointError(
                f"{what}: a tensor of shape {list(shape)} with strides {list(stride)} reads some "
                "elements more than once (a stride of 0, or overlapping strides); a real "
                "checkpoint has no such tensor"
            )
        extent += (size - 1) * step
    if storage_numel is not None and offset + extent >= storage_numel:
        raise CheckpointError(
            f"{what}: a tensor of shape {list(shape)} at offset {offset} reaches past the end of "
            f"its storage of {storage_numel} elements"
        )


def _step(size_and_step: tuple[int, int]) -> int:
    return size_and_step[1]


def check_tensor_bytes(
    tensors: Iterable[tuple[str, torch.Tensor]], file_size: int, name: str
) -> None:
    """Each tensor a plain view (no overlap), and all of them together not much more than the
    file: TENSOR_BYTES_PER_FILE_BYTE times its size, plus TENSOR_BYTES_SLACK."""
    total = 0
    for key, t in tensors:
        check_view(tuple(t.shape), t.stride(), t.storage_offset(), None, f"{name}: tensor {key}")
        total += t.numel() * t.element_size()
    allowed = TENSOR_BYTES_PER_FILE_BYTE * file_size + TENSOR_BYTES_SLACK
    if total > allowed:
        raise UnsafeCheckpointError(
            f"{name}: its tensors would take {total:,} bytes, more than "
            f"{TENSOR_BYTES_PER_FILE_BYTE} x the file's {file_size:,} bytes: tensors that share "
            "their data; a real checkpoint's take at most its size"
        )
