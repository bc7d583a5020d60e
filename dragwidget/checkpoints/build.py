"""From a state dict with the official names, and checked kwargs (kwargs.py), to a generator.

The state dict is checked too: floating-point and finite weights, and then, key by key, exactly
the names and shapes of the generator the kwargs describe.
"""

from __future__ import annotations

import json
import math
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from dragwidget.checkpoints.errors import CheckpointError
from dragwidget.messages import short_repr

KINDS = ("stylegan2", "stylegan3")
SUPPORTED = (
    "StyleGAN2 generators (a state dict with synthesis.b4.const; StyleGAN2-ADA, TF-era config-f, "
    "rosinality, StyleGAN-Human) and StyleGAN3 generators (synthesis.input.freqs; T and R)"
)


def detect_kind(state_dict: dict[str, Any], name: str) -> str:
    if "synthesis.input.freqs" in state_dict:
        return "stylegan3"
    if "synthesis.b4.const" in state_dict:
        return "stylegan2"
    keys = sorted(map(str, state_dict))
    found = ", ".join(map(short_repr, keys[:8]))
    if len(keys) > 8:
        found += f", ... ({len(keys)} keys)"
    raise CheckpointError(
        f"{name}: not a generator we know: found the tensors [{found or 'none'}]; "
        f"supported: {SUPPORTED}"
    )


def generator_class(kind: str) -> type[nn.Module]:
    if kind == "stylegan2":
        from dragwidget.networks.stylegan2 import Generator
    elif kind == "stylegan3":
        from dragwidget.networks.stylegan3 import Generator
    else:
        raise CheckpointError(f"unknown generator kind {kind!r}; supported: {', '.join(KINDS)}")
    return Generator


def check_weights(sd: dict[str, torch.Tensor], name: str) -> None:
    """Every tensor of floating point: a generator's weights are nothing else. (Their values are
    not read here: a memory-mapped file stays on disk until the generator runs.)"""
    for key, t in sd.items():
        if not isinstance(t, torch.Tensor) or not t.is_floating_point():
            kind = t.dtype if isinstance(t, torch.Tensor) else type(t).__name__
            raise CheckpointError(f"{name}: tensor {short_repr(key)} holds {kind}, not floats")


_FACTORIES = (torch.randn, torch.rand, torch.empty, torch.zeros, torch.ones, torch.full)


def _requested(func: Any, args: tuple, kwargs: dict) -> int:
    """How many elements a call of a tensor factory asks for."""
    size = args[0] if func is torch.full else args
    size = kwargs.get("size", size)
    if len(size) == 1 and isinstance(size[0], list | tuple | torch.Size):
        size = size[0]
    return math.prod(int(n) for n in size)


class _Skeleton(TorchFunctionMode):
    """Inside it, torch.randn and torch.rand give uninitialised tensors, and the tensor factories
    together may allocate at most `max_elements`.

    Every random initial weight of a generator we build is then replaced by the file's (the state
    dict is checked key by key), so drawing them would only cost time, touch memory (an untouched
    allocation is not resident) and advance the caller's random stream. (The meta device would
    avoid the allocation too, but its first use imports torch._dynamo: two seconds on our CPU.)
    The budget backs up kwargs.check_init_kwargs: the weights a file holds bound what it builds.
    """

    def __init__(self, max_elements: int | None):
        super().__init__()
        self.left = max_elements

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = dict(kwargs or {})
        if self.left is not None and func in _FACTORIES:
            self.left -= _requested(func, args, kwargs)
            if self.left < 0:
                raise CheckpointError("the network would be larger than the file's weights")
        if func in (torch.randn, torch.rand):
            kwargs.pop("generator", None)
            return torch.empty(*args, **kwargs)
        return func(*args, **kwargs)


def skeleton(
    kind: str, init_kwargs: dict, name: str, sd: dict[str, torch.Tensor] | None = None
) -> nn.Module:
    """The generator the kwargs describe, on the CPU, its random initial weights left undrawn.

    With the state dict `sd`, the generator may not ask for much more memory than its tensors.
    """
    budget = None if sd is None else 2 * sum(t.numel() for t in sd.values()) + (1 << 20)
    try:
        with _Skeleton(budget):
            return generator_class(kind)(**init_kwargs)
    except CheckpointError as e:
        raise CheckpointError(f"{name}: {e}") from None
    except Exception as e:
        raise CheckpointError(
            f"{name}: cannot build a {kind} generator from {json.dumps(init_kwargs)}: "
            f"{type(e).__name__}: {e}"
        ) from None


def check_state_dict(generator: nn.Module, sd: dict, kind: str, name: str) -> None:
    """Every key the generator has, with its shape, and no other: else say which and how."""
    expected = {k: tuple(v.shape) for k, v in generator.state_dict().items()}
    problems = []
    for key, shape in expected.items():
        if key not in sd:
            problems.append(f"missing key {key!r} (expected shape {list(shape)})")
        elif tuple(sd[key].shape) != shape:
            found = list(sd[key].shape)
            problems.append(f"key {key!r}: expected shape {list(shape)}, found {found}")
    problems += [
        f"unexpected key {short_repr(k)} (shape {list(sd[k].shape)})"
        for k in sd
        if k not in expected
    ]
    if problems:
        more = f"; and {len(problems) - 6} more" if len(problems) > 6 else ""
        raise CheckpointError(
            f"{name}: the weights do not fit the {kind} generator "
            f"{json.dumps(generator.init_kwargs)}: " + "; ".join(problems[:6]) + more
        )


def build_generator(
    kind: str,
    init_kwargs: dict,
    sd: dict[str, torch.Tensor],
    name: str,
    device: str | torch.device | None = None,
) -> nn.Module:
    """A ready generator: weights from `sd` (as float32), eval mode, no gradients, on `device`."""
    sd = {k: v.float() if v.is_floating_point() else v for k, v in sd.items()}
    generator = skeleton(kind, init_kwargs, name, sd)
    check_state_dict(generator, sd, kind, name)
    # assign: the file's tensors become the weights (no copy; the undrawn ones are dropped).
    generator.load_state_dict(sd, strict=True, assign=True)
    generator.eval().requires_grad_(False)
    return generator if device is None else generator.to(device)
