"""Learned parameters on disk: one safetensors file per parameter set, named by the sha256 of its
bytes (content-addressed: a file is written once and never overwritten, so every learning run can
be reloaded exactly, and undo is choosing an older file). The JSON metadata (method, hyperparameters,
class ids, attribute texts) travels inside the file's header."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

SUFFIX = ".safetensors"


def to_bytes(params: dict[str, torch.Tensor], meta: dict[str, Any]) -> bytes:
    """Deterministic bytes of a parameter set (tensors contiguous, CPU; metadata as sorted JSON)."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in sorted(params.items())}
    return st_save(tensors, metadata={"lazlabel": json.dumps(meta, sort_keys=True)})


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def save(folder: Path, params: dict[str, torch.Tensor], meta: dict[str, Any]) -> tuple[str, Path]:
    """Write the parameter set as `<sha256>.safetensors` in `folder` (atomic; kept if already there)."""
    data = to_bytes(params, meta)
    digest = content_hash(data)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{digest}{SUFFIX}"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=SUFFIX)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    return digest, path


def load(folder: Path, digest: str) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, metadata) of a saved set; ValueError when the file is missing or does not match its name."""
    path = folder / f"{digest}{SUFFIX}"
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ValueError(f"learned parameters {digest[:12]} are missing ({path})") from err
    if content_hash(data) != digest:
        raise ValueError(f"learned parameters {digest[:12]} are damaged ({path}): learn again")
    header_len = int.from_bytes(data[:8], "little")
    header = json.loads(data[8 : 8 + header_len])
    meta = json.loads((header.get("__metadata__") or {}).get("lazlabel", "{}"))
    return st_load(data), meta
