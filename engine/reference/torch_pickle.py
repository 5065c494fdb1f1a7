"""Read a `torch.save` checkpoint without PyTorch, and without letting its pickle run code.

A torch checkpoint is a zip: `<name>/data.pkl` is a pickle whose tensors point, through pickle's
persistent-id protocol, at raw storages in `<name>/data/<key>`. A pickle may name any Python callable,
so loading one with `pickle.load` runs whatever its author chose. This unpickler resolves only

    collections.OrderedDict            (a state_dict and its `_metadata`)
    torch._utils._rebuild_tensor_v2    (a view of a storage: offset, size, stride)
    torch.<Type>Storage                (the storage types: float32, bfloat16, float16, ints, bool)

and refuses every other global before anything is called. Storages become numpy arrays: bfloat16 is
widened to float32 exactly (its bits are the top half of a float32), other types keep their dtype.
"""

from __future__ import annotations

import collections
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from hrm_engine.errors import HRMError

STORAGE_DTYPES: dict[str, str] = {
    "FloatStorage": "<f4", "DoubleStorage": "<f8", "HalfStorage": "<f2", "BFloat16Storage": "bfloat16",
    "LongStorage": "<i8", "IntStorage": "<i4", "ShortStorage": "<i2", "CharStorage": "i1",
    "ByteStorage": "u1", "BoolStorage": "?",
}

MAX_ELEMENTS = 2**32  # no tensor of a state dict is larger; stops a zero-stride tensor from exhausting memory


class TorchPickleError(HRMError):
    """A checkpoint that is not a plain tensor state dict, or is damaged."""


class _StorageType:
    """Stands in for `torch.<Type>Storage` in persistent ids: a name, nothing callable."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"torch.{self.name}"


class _Storage:
    """A flat numpy view of one `data/<key>` entry."""

    def __init__(self, array: np.ndarray) -> None:
        self.array = array


def _itemsize(dtype: str) -> int:
    return 2 if dtype == "bfloat16" else np.dtype(dtype).itemsize


def _decode(raw: bytes, dtype: str, big_endian: bool) -> np.ndarray:
    """Bytes of a storage as a 1-D array; bfloat16 -> float32 by shifting its 16 bits to the top."""
    if dtype == "bfloat16":
        half = np.frombuffer(raw, dtype=">u2" if big_endian else "<u2").astype(np.uint32)
        return (half << 16).view(np.float32)
    dt = np.dtype(dtype)
    if big_endian and dt.itemsize > 1:
        dt = dt.newbyteorder(">")
    return np.frombuffer(raw, dtype=dt).astype(dt.newbyteorder("="))


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file: Any, archive: zipfile.ZipFile, prefix: str, source: str, big_endian: bool) -> None:
        super().__init__(file)
        self.archive, self.prefix, self.source, self.big_endian = archive, prefix, source, big_endian
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module: str, name: str) -> Any:
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return self._rebuild_tensor_v2
        if module == "torch" and name in STORAGE_DTYPES:
            return _StorageType(name)
        raise TorchPickleError(f"refusing to load {self.source}: the pickle calls {module}.{name}, and only tensor "
                               "state dicts are accepted (collections.OrderedDict, torch._utils._rebuild_tensor_v2, "
                               "torch storages)")

    def persistent_load(self, pid: Any) -> _Storage:
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)
                and isinstance(pid[2], str)):
            raise TorchPickleError(f"refusing to load {self.source}: unknown persistent id {str(pid)[:80]}")
        key, numel = pid[2], pid[4]
        dtype = STORAGE_DTYPES.get(str(getattr(pid[1], "name", "")))
        if dtype is None:
            raise TorchPickleError(f"refusing to load {self.source}: unknown storage type")
        if key not in self.storages:
            entry = f"{self.prefix}data/{key}"
            try:
                raw = self.archive.read(entry)
            except KeyError:
                raise TorchPickleError(f"{self.source} is damaged: storage {entry} is missing") from None
            array = _decode(raw[: int(numel) * _itemsize(dtype)] if isinstance(numel, int) else raw,
                            dtype, self.big_endian)
            self.storages[key] = _Storage(array)
        return self.storages[key]

    def _rebuild_tensor_v2(self, storage: Any, offset: Any, size: Any, stride: Any, requires_grad: Any = False,
                           backward_hooks: Any = None, metadata: Any = None) -> np.ndarray:
        """storage[offset + sum(i_k * stride_k)] for every index, bounds-checked, copied out."""
        ints = lambda t: isinstance(t, tuple) and all(isinstance(v, int) and v >= 0 for v in t)  # noqa: E731
        if not (isinstance(storage, _Storage) and isinstance(offset, int) and offset >= 0 and ints(size)
                and ints(stride) and len(size) == len(stride)):
            raise TorchPickleError(f"{self.source} is damaged: a tensor has a malformed shape or stride")
        flat = storage.array
        if int(np.prod(size, dtype=np.float64)) > MAX_ELEMENTS:
            raise TorchPickleError(f"{self.source}: a tensor of shape {size} is larger than any HRM weight")
        if int(np.prod(size)) == 0:
            return np.zeros(size, dtype=flat.dtype)
        last = offset + sum((n - 1) * s for n, s in zip(size, stride))
        if last >= flat.size:
            raise TorchPickleError(f"{self.source} is damaged: a tensor reaches past the end of its storage")
        view = np.lib.stride_tricks.as_strided(flat[offset:], shape=size,
                                               strides=tuple(s * flat.itemsize for s in stride), writeable=False)
        return np.array(view, copy=True)


def _archive_prefix(archive: zipfile.ZipFile, source: str) -> str:
    pickles = [n for n in archive.namelist() if n.endswith("data.pkl") and n.count("/") <= 1]
    if len(pickles) != 1:
        raise TorchPickleError(f"{source} is not a torch checkpoint (no single data.pkl in the zip)")
    return pickles[0][: -len("data.pkl")]


def load_torch_zip(path: str | Path) -> Any:
    """Unpickle a `torch.save` zip with tensors as numpy arrays; refuses anything but tensor containers."""
    path = Path(path)
    source = str(path)
    try:
        archive = zipfile.ZipFile(path)
    except FileNotFoundError:
        raise TorchPickleError(f"{source} does not exist") from None
    except (zipfile.BadZipFile, OSError):
        raise TorchPickleError(f"{source} is not a torch zip checkpoint (legacy torch.save format or another file); "
                               "re-save it with torch.save(state_dict, path) from torch >= 1.6 or as safetensors"
                               ) from None
    with archive:
        prefix = _archive_prefix(archive, source)
        big_endian = False
        if f"{prefix}byteorder" in archive.namelist():
            big_endian = archive.read(f"{prefix}byteorder").strip() == b"big"
        with archive.open(f"{prefix}data.pkl") as fh:
            unpickler = _RestrictedUnpickler(fh, archive, prefix, source, big_endian)
            try:
                return unpickler.load()
            except HRMError:
                raise
            except Exception as exc:  # a truncated or hand-made pickle: never a traceback
                raise TorchPickleError(f"{source} is damaged or not a tensor state dict "
                                       f"({type(exc).__name__}: {str(exc)[:120]})") from None


def load_torch_state_dict(path: str | Path) -> dict[str, np.ndarray]:
    """A flat name -> array mapping from a torch checkpoint holding a state dict (or {"model": state_dict})."""
    obj = load_torch_zip(path)
    if isinstance(obj, dict) and not all(isinstance(v, np.ndarray) for v in obj.values()):
        for key in ("state_dict", "model", "model_state_dict"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, np.ndarray) for k, v in obj.items()):
        raise TorchPickleError(f"{path} holds a {type(obj).__name__}, not a state dict of named tensors")
    return dict(obj)
