"""Per-image feature cache on disk: p_0, p_1..p_N (fp16) and boxes, per (model id, view config).

Layout: ``root/<model-slug>/<view_key>/`` holds shards, one per `put_batch`:
``<id>.g.npy`` [b,D] fp16, ``<id>.r.npy`` [b,N,D] fp16, ``<id>.b.npy`` [b,N,4] fp32 and
``<id>.hashes`` (one content hash per line) written last. Every file is written aside and renamed,
and the hash list is the commit record: a kill at any moment leaves either a whole shard or only
``.tmp`` debris (swept on the next open), never a torn entry. Shards are read through numpy
memory maps, so a re-score of 100k images touches only the rows it asks for.
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import BinaryIO, Literal, overload

import numpy as np
import torch

_PARTS = ("g", "r", "b")  # required; "s" (image W,H) and "p" (pooled patch tokens) are optional
_MAX_OPEN_SHARDS = 8  # mapped pages count as resident memory: keep few maps open


def _slug(text: str) -> str:
    """Filesystem-safe, collision-free directory name for a model id or view key."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60].strip("._") or "x"
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    tmp = path.with_name(f".tmp-{uuid.uuid4().hex}-{path.name}")
    with open(tmp, "wb") as f:
        write(f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _save_array(f: BinaryIO, arr: np.ndarray) -> None:
    np.save(f, arr)


def _tensor_view(x: np.ndarray) -> torch.Tensor:
    """A tensor over `x` without copying, read-only memory maps included (only ever read from here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(x)


class FeatureCache:
    """Append-only, kill-safe store of image features keyed by content hash (see module docstring)."""

    def __init__(self, root: Path, model_id: str, view_key: str) -> None:
        self.root = Path(root)
        self.model_id = model_id
        self.view_key = view_key
        self.dir = self.root / _slug(model_id) / _slug(view_key)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[str, int]] = {}
        self._maps: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.RLock()
        self._load_index()

    # ---------------------------------------------------------------- index

    def _load_index(self) -> None:
        for tmp in self.dir.glob(".tmp-*"):
            try:
                tmp.unlink()
            except OSError:
                pass
        for manifest in sorted(self.dir.glob("*.hashes")):
            sid = manifest.name[: -len(".hashes")]
            if not all((self.dir / f"{sid}.{p}.npy").is_file() for p in _PARTS):
                continue
            for row, h in enumerate(manifest.read_text().split()):
                self._index.setdefault(h, (sid, row))

    def __len__(self) -> int:
        return len(self._index)

    def has(self, content_hash: str) -> bool:
        return content_hash in self._index

    def missing(self, hashes: Iterable[str]) -> list[str]:
        """The hashes (in order, without duplicates) that have no cached features."""
        return [h for h in dict.fromkeys(hashes) if h not in self._index]

    # ---------------------------------------------------------------- write

    def put_batch(self, hashes: Sequence[str], global_feats: torch.Tensor, region_feats: torch.Tensor,
                  boxes: torch.Tensor, image_sizes: Sequence[tuple[int, int]] | None = None,
                  patch_maps: torch.Tensor | None = None) -> None:
        """Store one batch (rows aligned with `hashes`); rows already cached are skipped.

        `image_sizes` (W,H) per row lets a later re-score build explanations without opening images;
        `patch_maps` [B,G*G,D] are the pooled patch tokens localisation maps read (engine/localize.py).
        """
        hashes = list(hashes)
        B = len(hashes)
        if not (global_feats.shape[0] == region_feats.shape[0] == boxes.shape[0] == B):
            raise ValueError("put_batch: hashes, global, regions and boxes must have the same length")
        if region_feats.shape[:2] != boxes.shape[:2] or boxes.shape[-1] != 4:
            raise ValueError("put_batch: boxes must be [B,N,4] matching regions [B,N,D]")
        with self._lock:
            seen: set[str] = set()
            keep = []
            for i, h in enumerate(hashes):
                if h not in self._index and h not in seen:
                    keep.append(i)
                    seen.add(h)
        if not keep:
            return
        idx = torch.tensor(keep)
        arrays = {
            "g": global_feats[idx].detach().to("cpu", torch.float16).numpy(),
            "r": region_feats[idx].detach().to("cpu", torch.float16).numpy(),
            "b": boxes[idx].detach().to("cpu", torch.float32).numpy(),
        }
        if image_sizes is not None:
            arrays["s"] = np.asarray(image_sizes, dtype=np.int32).reshape(B, 2)[keep]
        if patch_maps is not None:
            arrays["p"] = patch_maps[idx].detach().to("cpu", torch.float16).numpy()
        sid = uuid.uuid4().hex
        for p, arr in arrays.items():
            _write_atomic(self.dir / f"{sid}.{p}.npy", partial(_save_array, arr=arr))
        names = [hashes[i] for i in keep]
        _write_atomic(self.dir / f"{sid}.hashes", lambda f: f.write(("\n".join(names) + "\n").encode()))
        with self._lock:
            for row, h in enumerate(names):
                self._index.setdefault(h, (sid, row))

    # ---------------------------------------------------------------- read

    def _shard(self, sid: str) -> dict[str, np.ndarray]:
        with self._lock:
            m = self._maps.get(sid)
            if m is None:
                m = {p: np.load(self.dir / f"{sid}.{p}.npy", mmap_mode="r") for p in _PARTS}
                sizes = self.dir / f"{sid}.s.npy"
                if sizes.is_file():
                    m["s"] = np.load(sizes)
                patches = self.dir / f"{sid}.p.npy"
                if patches.is_file():
                    m["p"] = np.load(patches, mmap_mode="r")
                self._maps[sid] = m
                while len(self._maps) > _MAX_OPEN_SHARDS:
                    self._maps.popitem(last=False)
            else:
                self._maps.move_to_end(sid)
            return m

    @overload
    def get(self, hashes: Sequence[str], with_mask: Literal[False] = False,
            dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]: ...

    @overload
    def get(self, hashes: Sequence[str], with_mask: Literal[True],
            dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]: ...

    def get(
        self, hashes: Sequence[str], with_mask: bool = False, dtype: torch.dtype = torch.float32
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Batched read → (global [B,D], regions [B,N,D], boxes [B,N,4]) CPU tensors: features in
        `dtype` (``torch.float16`` hands them over as stored, for a consumer that widens only what
        it uses), boxes float32.

        Rows follow `hashes`. If shards differ in region count, regions are zero-padded to the
        largest N; pass ``with_mask=True`` to also get the valid-region mask [B,N] (bool).
        Raises KeyError naming the first hash that is not cached.
        """
        hashes = list(hashes)
        where = []
        for h in hashes:
            try:
                where.append(self._index[h])
            except KeyError:
                raise KeyError(f"features for image {h} are not cached under {self.dir}") from None
        groups: dict[str, list[int]] = {}
        for at, (sid, _) in enumerate(where):
            groups.setdefault(sid, []).append(at)
        shards = {sid: self._shard(sid) for sid in groups}
        D = next(iter(shards.values()))["g"].shape[1] if shards else 0
        N = max((s["r"].shape[1] for s in shards.values()), default=0)
        B = len(hashes)
        full = all(s["r"].shape[1] == N for s in shards.values())  # every row written: no zero fill
        alloc = torch.empty if full else torch.zeros
        g = torch.empty(B, D, dtype=dtype)
        r = alloc(B, N, D, dtype=dtype)
        b = alloc(B, N, 4)
        mask = torch.zeros(B, N, dtype=torch.bool)
        for sid, positions in groups.items():
            s = shards[sid]
            rows = np.asarray([where[p][1] for p in positions])
            pos = torch.as_tensor(positions)
            n = s["r"].shape[1]
            if len(rows) and rows[-1] - rows[0] + 1 == len(rows) and (np.diff(rows) == 1).all():
                sl = slice(int(rows[0]), int(rows[-1]) + 1)  # the common case: a run of rows, no fancy indexing
                parts = (s["g"][sl], s["r"][sl], s["b"][sl])
            else:
                order = np.argsort(rows, kind="stable")  # sequential reads inside a memory map
                rows, pos = rows[order], pos[torch.as_tensor(order)]
                parts = (s["g"][rows], s["r"][rows], s["b"][rows])
            # a run of rows is widened straight out of the map (one pass); fancy indexing already copied
            gg, rr, bb = (_tensor_view(x) for x in parts)
            if len(pos) and int(pos[-1]) - int(pos[0]) + 1 == len(pos) and bool((pos.diff() == 1).all()):
                dst = slice(int(pos[0]), int(pos[-1]) + 1)  # in place (fp16 → dtype), no temporary
                g[dst].copy_(gg)
                r[dst, :n].copy_(rr)
                b[dst, :n].copy_(bb)
            else:
                g[pos] = gg.to(dtype)
                r[pos, :n] = rr.to(dtype)
                b[pos, :n] = bb.float()
            mask[pos, :n] = True
        return (g, r, b, mask) if with_mask else (g, r, b)

    def global_features(self, hashes: Sequence[str], dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Only the global image features [B,D] of `hashes` (no regions read): what dataset checks
        such as duplicates and outliers compare. Raises KeyError like `get`."""
        hashes = list(hashes)
        try:
            where = [self._index[h] for h in hashes]
        except KeyError as err:
            raise KeyError(f"features for image {err.args[0]} are not cached under {self.dir}") from None
        groups: dict[str, list[int]] = {}
        for pos, (sid, _) in enumerate(where):
            groups.setdefault(sid, []).append(pos)
        out: torch.Tensor | None = None
        for sid, positions in groups.items():
            g = self._shard(sid)["g"]
            if out is None:
                out = torch.empty(len(hashes), g.shape[1], dtype=dtype)
            rows = np.asarray([where[p][1] for p in positions])
            order = np.argsort(rows, kind="stable")
            out[torch.as_tensor(np.asarray(positions)[order])] = _tensor_view(g[rows[order]]).to(dtype)
        return out if out is not None else torch.empty(0, 0, dtype=dtype)

    def sizes(self, hashes: Sequence[str]) -> list[tuple[int, int]]:
        """Original (W,H) of each cached image; (0,0) where the writer did not record it."""
        out = []
        for h in hashes:
            sid, row = self._index[h]
            s = self._shard(sid).get("s")
            out.append((int(s[row, 0]), int(s[row, 1])) if s is not None else (0, 0))
        return out

    def patch_maps(self, hashes: Sequence[str]) -> torch.Tensor | None:
        """Pooled patch tokens [B,G*G,D] float32 of cached images, or None unless every one has them
        (older caches, towers without patch tokens)."""
        rows = []
        for h in hashes:
            sid, row = self._index[h]
            p = self._shard(sid).get("p")
            if p is None:
                return None
            rows.append(torch.from_numpy(np.asarray(p[row], dtype=np.float32)))
        if not rows or len({r.shape for r in rows}) != 1:
            return None
        return torch.stack(rows)

    def close(self) -> None:
        """Drop open memory maps (files stay)."""
        with self._lock:
            self._maps.clear()
