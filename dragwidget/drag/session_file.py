"""The session file: latents, points, mask, settings and history in one small safetensors file.

Tensors: `ws` (the current latent), `history.{i}.before` and `history.{i}.after` (each finished
drag, new image or opened picture; the undone ones last, most recently undone last), `mask` (uint8,
when there is one), and `tuning.{k}.<synthesis parameter>`: the weights of each picture tuned by
PTI, as differences from the generator's own, each stored once however many entries use it. The
metadata key `dragwidget` holds JSON: format, version (2 when the file holds tuned weights, else
1, so that older readers refuse only what they cannot draw), seed, truncation_psi, points,
settings, history (kind, points before and after, seeds, steps, tunings before and after),
undone, the tuning in use, the tunings' generator fingerprints, and the generator's identity.

Reading trusts nothing in the file. A tensor's size is checked before it is read, and every field
passes the check the live API applies to the same value: a point `check_point`, a latent the
session's latent check, the mask the mask check, the settings `DragSettings.validate`, a seed
`check_seed`; tuned weights must be finite floats of the generator's own shapes, made from its
own weights. Any defect is a ValueError that names the file and the field.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from dragwidget.drag.pti import SynthesisTuning, synthesis_fingerprint
from dragwidget.messages import short_repr, shorten

if TYPE_CHECKING:
    from dragwidget.drag.session import DragSession, HistoryEntry

SESSION_FORMAT = "dragwidget-session"
SESSION_VERSION = 1
SESSION_VERSION_WITH_TUNING = 2  # files holding tuned weights of inverted pictures
HISTORY_KINDS = ("drag", "new_image", "picture")


def generator_identity(generator: torch.nn.Module) -> dict[str, Any]:
    return {
        "num_ws": int(generator.num_ws),
        "w_dim": int(generator.w_dim),
        "img_resolution": int(generator.img_resolution),
        "init_kwargs": getattr(generator, "init_kwargs", None),
    }


def write(session: DragSession, path: str | Path) -> Path:
    """Write `session` (after committing an open drag) to `path`."""
    from safetensors.torch import save_file

    session.finish()
    tensors = {"ws": session._ws.detach().cpu().clone()}
    tunings: list[SynthesisTuning] = []

    def tuning_index(tuning: SynthesisTuning | None) -> int | None:
        """Each tuned generator is stored once, however many entries use it."""
        if tuning is None:
            return None
        for k, kept in enumerate(tunings):
            if kept is tuning:
                return k
        tensors.update(tuning.to_tensors(f"tuning.{len(tunings)}."))
        tunings.append(tuning)
        return len(tunings) - 1

    entries = []
    for i, entry in enumerate(session._history + session._future[::-1]):
        tensors[f"history.{i}.before"] = entry.ws_before.detach().cpu().clone()
        tensors[f"history.{i}.after"] = entry.ws_after.detach().cpu().clone()
        entries.append(
            {
                "kind": entry.kind,
                "points_before": entry.points_before,
                "points_after": entry.points_after,
                "seed_before": entry.seed_before,
                "seed_after": entry.seed_after,
                "steps": entry.steps,
                "tuning_before": tuning_index(entry.tuning_before),
                "tuning_after": tuning_index(entry.tuning_after),
            }
        )
    if session._mask is not None:
        tensors["mask"] = torch.from_numpy(session._mask.astype(np.uint8))
    current_tuning = tuning_index(session._tuning)
    meta = {
        "format": SESSION_FORMAT,
        "version": SESSION_VERSION_WITH_TUNING if tunings else SESSION_VERSION,
        "seed": session.seed,
        "truncation_psi": session.truncation_psi,
        "points": session._points,
        "settings": asdict(session.settings),
        "history": entries,
        "undone": len(session._future),
        "generator": generator_identity(session.base_generator),
        "tuning": current_tuning,
        "tunings": [{"base_fingerprint": t.base_fingerprint} for t in tunings],
    }
    path = Path(path)
    save_file(tensors, str(path), metadata={"dragwidget": json.dumps(meta, allow_nan=False)})
    return path


@contextlib.contextmanager
def _field(path: Path, name: str) -> Iterator[None]:
    """Any defect found while reading the field `name`: a ValueError naming the file and it."""
    try:
        yield
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as e:
        detail = f"missing {e}" if isinstance(e, KeyError) else str(e)
        raise ValueError(shorten(f"{path}: {name}: {detail}")) from None


def _read_file(
    path: Path, max_numel: int, synthesis_numel: dict[str, int]
) -> tuple[dict, dict[str, torch.Tensor]]:
    """The metadata and the tensors, none of them read before its size is known to be small:
    at most `max_numel` numbers, or a tuned weight's `synthesis_numel` for `tuning.{k}.<name>`."""
    from safetensors import SafetensorError, safe_open

    def limit(key: str) -> int:
        if key.startswith("tuning."):
            return synthesis_numel.get(key.split(".", 2)[-1], 0)
        return max_numel

    try:
        with safe_open(str(path), framework="pt") as f:
            text = (f.metadata() or {}).get("dragwidget")
            sizes = {key: math.prod(f.get_slice(key).get_shape()) for key in f.keys()}
            too_big = [key for key, numel in sizes.items() if numel > limit(key)]
            if too_big:
                raise ValueError(f"{too_big[0]}: a tensor of {sizes[too_big[0]]:,} numbers")
            tensors = {key: f.get_tensor(key) for key in sizes}
    except (OSError, SafetensorError, ValueError, TypeError) as e:
        raise ValueError(shorten(f"{path} is not a dragwidget session file ({e})")) from None
    if not isinstance(text, str):
        raise ValueError(f"{path} is not a dragwidget session file (no dragwidget metadata)")
    with _field(path, "metadata"):
        meta = json.loads(text)
        if not isinstance(meta, dict):
            raise ValueError(f"JSON {type(meta).__name__}, not an object")
    return meta, tensors


def _pairs(session: DragSession, pairs: Any) -> list[tuple[tuple[float, float], ...]]:
    if not isinstance(pairs, list):
        raise ValueError(f"points must be a list of [handle, target], not a {type(pairs)}")
    checked = []
    for i, pair in enumerate(pairs):
        if not isinstance(pair, list | tuple) or len(pair) != 2:
            raise ValueError(f"point {i} is not a [handle, target] pair")
        handle, target = pair
        checked.append(
            (session._check_point(handle, "handle"), session._check_point(target, "target"))
        )
    return checked


def _count(value: Any, high: int | None = None) -> int:
    """A whole number in [0, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{short_repr(value)} is not a whole number >= 0")
    if high is not None and value > high:
        raise ValueError(f"{value} is more than {high}")
    return value


def _optional_seed(value: Any) -> int | None:
    from dragwidget.drag.session import check_seed

    return None if value is None else check_seed(value)


def _tensor(tensors: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in tensors:
        raise ValueError(f"the file has no tensor {key!r}")
    return tensors[key]


def read(
    path: str | Path, generator: torch.nn.Module, device: str | torch.device | None
) -> DragSession:
    """A session restored from `path` onto `generator`; the image is the saved one, bit for bit."""
    from dragwidget.drag.session import DragSession, HistoryEntry, check_truncation_psi

    path = Path(path)
    height, width = generator.synthesis.img_size
    largest = max(int(generator.num_ws) * int(generator.w_dim), int(height) * int(width))
    synthesis_numel = {n: p.numel() for n, p in generator.synthesis.named_parameters()}
    meta, tensors = _read_file(path, largest, synthesis_numel)
    with _field(path, "format"):
        if meta.get("format") != SESSION_FORMAT:
            raise ValueError("not a dragwidget session file")
    with _field(path, "version"):
        _count(meta.get("version", 1), SESSION_VERSION_WITH_TUNING)  # newer: "more than 2"
    with _field(path, "generator"):
        saved, expected = meta["generator"], generator_identity(generator)
        if [saved["num_ws"], saved["w_dim"]] != [expected["num_ws"], expected["w_dim"]]:
            raise ValueError(
                f"saved for a generator with num_ws={short_repr(saved['num_ws'])}, "
                f"w_dim={short_repr(saved['w_dim'])}; this one has num_ws={expected['num_ws']}, "
                f"w_dim={expected['w_dim']}"
            )
    with _field(path, "truncation_psi"):
        psi = check_truncation_psi(meta["truncation_psi"])
    with _field(path, "ws"):
        latent = _tensor(tensors, "ws")
        session = DragSession(generator, latent=latent, truncation_psi=psi, device=device)
    with _field(path, "tunings"):
        tunings = _tunings(meta.get("tunings", []), tensors, generator)
    with _field(path, "tuning"):
        session._use_tuning(_tuning_at(tunings, meta.get("tuning")))
    with _field(path, "settings"):
        if not isinstance(meta["settings"], dict):
            raise ValueError(f"a {type(meta['settings']).__name__}, not an object")
        session.update_settings(**meta["settings"])
    with _field(path, "seed"):
        session.seed = _optional_seed(meta["seed"])
    with _field(path, "points"):
        session._points = _pairs(session, meta["points"])
    with _field(path, "mask"):
        if "mask" in tensors:
            session._mask = session._check_mask(tensors["mask"])
    with _field(path, "history"):
        history = meta["history"]
        if not isinstance(history, list):
            raise ValueError(f"a {type(history).__name__}, not a list")
    entries = [
        _entry(path, session, i, x, tensors, tunings, HistoryEntry) for i, x in enumerate(history)
    ]
    with _field(path, "undone"):
        undone = _count(meta.get("undone", 0), len(entries))
    session._history = entries[: len(entries) - undone]
    session._future = entries[len(entries) - undone :][::-1]
    return session


def _entry(
    path: Path,
    session: DragSession,
    i: int,
    item: Any,
    tensors: dict[str, torch.Tensor],
    tunings: list[SynthesisTuning],
    entry_class: type[HistoryEntry],
) -> HistoryEntry:
    with _field(path, f"history[{i}]"):
        if item["kind"] not in HISTORY_KINDS:
            raise ValueError(f"kind {short_repr(item['kind'])} is not one of {HISTORY_KINDS}")
        return entry_class(
            item["kind"],
            session._check_latent(_tensor(tensors, f"history.{i}.before")),
            session._check_latent(_tensor(tensors, f"history.{i}.after")),
            _pairs(session, item["points_before"]),
            _pairs(session, item["points_after"]),
            _optional_seed(item["seed_before"]),
            _optional_seed(item["seed_after"]),
            _count(item["steps"]),
            _tuning_at(tunings, item.get("tuning_before")),
            _tuning_at(tunings, item.get("tuning_after")),
        )


def _tunings(
    listed: Any, tensors: dict[str, torch.Tensor], generator: torch.nn.Module
) -> list[SynthesisTuning]:
    """The tuned weights the file holds (none in files without inverted pictures)."""
    if not isinstance(listed, list):
        raise ValueError(f"a {type(listed).__name__}, not a list")
    if not listed:
        return []
    fingerprint = synthesis_fingerprint(generator)
    shapes = {name: p.shape for name, p in generator.synthesis.named_parameters()}
    tunings = []
    for k, item in enumerate(listed):
        if not isinstance(item, dict) or item.get("base_fingerprint") != fingerprint:
            raise ValueError(
                f"{k} was tuned from another generator (its synthesis weights differ from this "
                "one's): load the file with the generator it was saved with"
            )
        tuning = SynthesisTuning.from_tensors(tensors, f"tuning.{k}.", fingerprint)
        for name, delta in tuning.delta.items():
            if name not in shapes or delta.shape != shapes[name]:
                raise ValueError(f"{k}: {short_repr(name)} is not a synthesis weight of its shape")
            if not delta.is_floating_point() or not torch.isfinite(delta).all():
                raise ValueError(f"{k}: the tuned weight {name} is not finite floating point")
        tunings.append(tuning)
    return tunings


def _tuning_at(tunings: list[SynthesisTuning], index: Any) -> SynthesisTuning | None:
    if index is None:
        return None
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(tunings):
        raise ValueError(f"a tuning index must be one of 0..{len(tunings) - 1}, not {index!r}")
    return tunings[index]
