"""Read a network pickle (NVIDIA's, or a TF-era one) as data: run none of its code.

NVIDIA's network pickles rebuild each network by executing the Python source stored inside the
file, and each tensor through a full `torch.load`. Our restricted unpickler (unpickler.py) allows
only the globals these files need, each mapped to a harmless stand-in:

- the persistent-object constructor returns its meta record (class name, constructor kwargs,
  state); the stored `module_src` is kept as text and never run;
- tensors become `TensorRecord`s and storages `StorageRecord`s (torch_pickles.py): a storage is
  read, and each view of it checked, only when a tensor that uses it is materialized;
- NumPy arrays become `ArrayRecord`s and dtypes `DtypeRecord`s, rebuilt from a plain numeric
  type code alone: NumPy's own dtype state (flags, fields, item size) is never applied, since
  with it a file can make NumPy read raw bytes as object pointers;
- TF-era networks become `TFNetwork` stubs holding their state;
- `EasyDict` is a dict; NumPy 1 names (`numpy.core.*`) read as NumPy 2 ones (`numpy._core.*`).

Any other global is refused with an `UnsafeCheckpointError` that names it and the file.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from dragwidget.checkpoints.errors import CheckpointError, UnsafeCheckpointError, from_torch_load
from dragwidget.checkpoints.torch_pickles import StorageRecord, TensorRecord, rebuild_parameter
from dragwidget.checkpoints.unpickler import (
    Blob,
    Policy,
    bytes_of,
    checked_ordered_dict,
    checked_set,
    ignore_mapping_state,
    unpickle,
)
from dragwidget.messages import short_repr

NUMERIC_DTYPE_CODES = frozenset(
    {"b1", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8"}
)
BYTE_ORDERS = {"<": "<", ">": ">", "=": "=", "|": "="}  # "|": not applicable (one byte)


class DtypeRecord:
    """A NumPy dtype, from its type code ("f4", "i8", ...) and byte order only."""

    def __init__(self, code: Any, align: Any = False, copy: Any = False):
        if type(code) is not str or code not in NUMERIC_DTYPE_CODES:
            raise UnsafeCheckpointError(
                f"a NumPy dtype {short_repr(code)}: only booleans, integers and floats are read"
            )
        self.code, self.order = code, "="

    def set_state(self, state: Any) -> None:
        # NumPy's state is (version, byte order, subarray, names, fields, item size, alignment,
        # flags). Only the byte order is taken: the rest describes what the code already does.
        order = state[1] if type(state) is tuple and len(state) >= 2 else None
        if type(order) is not str or order not in BYTE_ORDERS:
            raise CheckpointError(f"a NumPy dtype state without a byte order: {short_repr(state)}")
        self.order = BYTE_ORDERS[order]

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.code).newbyteorder(self.order)


def _dtype_of(value: Any) -> np.dtype:
    if not isinstance(value, DtypeRecord):
        raise CheckpointError(f"a NumPy dtype that is a {type(value).__name__}")
    return value.dtype


def numpy_scalar(dtype: Any, data: Any) -> np.generic:
    """Stands for `numpy.core.multiarray.scalar`: a number from its bytes."""
    dtype = _dtype_of(dtype)
    if type(data) is not bytes or len(data) != dtype.itemsize:
        raise CheckpointError(f"a NumPy {dtype} scalar whose data is not {dtype.itemsize} bytes")
    return np.frombuffer(data, dtype)[0]


_NDARRAY = object()  # stands for numpy.ndarray: only ever an argument of _reconstruct


class ArrayRecord:
    """A NumPy array: created empty by `_reconstruct`, described by its pickled state."""

    def __init__(self, cls: Any, shape: Any, typecode: Any):
        if cls is not _NDARRAY:
            raise CheckpointError("numpy _reconstruct of something other than an ndarray")
        self.shape, self.dtype, self.fortran, self.data = (0,), np.dtype("f4"), False, b""

    def set_state(self, state: Any) -> None:
        if type(state) is not tuple or len(state) not in (4, 5):
            raise CheckpointError("a NumPy array whose state is not (shape, dtype, order, data)")
        shape, dtype, fortran, data = state[-4:]  # after a leading format version, if any
        if type(shape) is not tuple or not all(type(n) is int and n >= 0 for n in shape):
            raise CheckpointError(f"a NumPy array of shape {short_repr(shape)}")
        dtype = _dtype_of(dtype)
        if not isinstance(data, bytes | Blob):
            raise CheckpointError(f"a NumPy array whose data is a {type(data).__name__}")
        size = len(data) if isinstance(data, bytes) else data.length
        if size != math.prod(shape) * dtype.itemsize:
            raise CheckpointError(
                f"a NumPy array of shape {list(shape)} and dtype {dtype} with {size} bytes of data"
            )
        self.shape, self.dtype, self.fortran, self.data = shape, dtype, bool(fortran), data

    def materialize(self) -> np.ndarray:
        flat = np.frombuffer(bytes_of(self.data), dtype=self.dtype)
        return flat.reshape(self.shape, order="F" if self.fortran else "C")


class TFNetwork:
    """A TF-era `dnnlib.tflib.network.Network`: only its pickled state (name, kwargs, variables)."""

    def set_state(self, state: Any) -> None:
        if type(state) is not dict:
            raise CheckpointError(f"a TF network's state is a {type(state).__name__}")
        self.state = state


def _persistent_record(meta: Any) -> dict:
    """Stands for NVIDIA's persistent-object constructor: returns the record, runs nothing."""
    if type(meta) is not dict or meta.get("type") != "class" or "state" not in meta:
        raise CheckpointError("a persistent object whose record is not a class record")
    return meta


def _easy_dict(items: Any = ()) -> dict:
    """Stands for dnnlib's EasyDict (a dict with attribute access): a plain dict."""
    return dict(checked_ordered_dict(items))


ALLOWED_GLOBALS = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _persistent_record,
    ("torch._utils", "_rebuild_tensor_v2"): TensorRecord,
    ("torch._utils", "_rebuild_parameter"): rebuild_parameter,
    ("torch.storage", "_load_from_bytes"): StorageRecord,
    ("collections", "OrderedDict"): checked_ordered_dict,
    ("builtins", "set"): checked_set,
    ("dnnlib.util", "EasyDict"): _easy_dict,
    ("dnnlib.tflib.network", "Network"): TFNetwork,
    ("numpy", "dtype"): DtypeRecord,
    ("numpy", "ndarray"): _NDARRAY,
    ("numpy._core.multiarray", "_reconstruct"): ArrayRecord,
    ("numpy._core.multiarray", "scalar"): numpy_scalar,
}
POLICY = Policy(
    globals=ALLOWED_GLOBALS,
    new=((_easy_dict, dict), (TFNetwork, TFNetwork)),
    build={
        DtypeRecord: DtypeRecord.set_state,
        ArrayRecord: ArrayRecord.set_state,
        TFNetwork: TFNetwork.set_state,
        dict: ignore_mapping_state,
        OrderedDict: ignore_mapping_state,
    },
)


def load(file: BinaryIO, name: str | None = None) -> Any:
    """Unpickle an open network pickle as data. Blobs read from `file` later: keep it open."""
    return unpickle(file, name or getattr(file, "name", "<pickle>"), POLICY)


def materialize(record: TensorRecord | ArrayRecord, name: str, what: str) -> Any:
    """Read a record's data: a tensor or an array. Errors name the file and the record."""
    if not isinstance(record, TensorRecord | ArrayRecord):
        raise CheckpointError(f"{name}: {what} is a {type(record).__name__}, not a tensor")
    try:
        return record.materialize()
    except Exception as e:
        raise from_torch_load(name, what, e) from None
