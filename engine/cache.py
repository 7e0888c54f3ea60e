"""Per-image feature cache on disk: p_0, p_1..p_N (fp16) and boxes, per (model id, view config).

Layout: ``root/<model-slug>/<view_key>/`` holds shards, one per `put_batch`:
``<id>.g.npy`` [b,D] fp16, ``<id>.r.npy`` [b,N,D] fp16, ``<id>.b.npy`` [b,N,4] fp32 and
``<id>.sums`` (size and sha256 of each part) and ``<id>.hashes`` (one content hash per line)
written last. Every file is written aside and renamed, and the hash list is the commit record: a
kill at any moment leaves either a whole shard or debris, never a torn entry.

The root is a store several machines may share (a mounted folder; `store_root` reads a path or a
``file://`` URL). Keys are content-addressed, as in an object store: a shard's id is the hash of
its content-hash list and of its parts' sha256 sums, so two writers of the same batch with the same
bytes write the same files (the second finds the commit record and stops), and writers with
different bytes write different shards: nobody ever overwrites another's data. Temporary files
carry the writer's pid and host, so a machine only sweeps the debris of its own dead writers
(another host's after `_ORPHAN_AGE_S`). Shards of older versions (``<uuid>p<pid>``) read as before.

The cache is validated on open (docs/architecture.md, "Run and cache life cycle"): debris of writers
that are gone (``.tmp-`` files, parts without a commit record, e.g. after a full disk) is
removed; every committed shard's parts must have the sizes their npy headers (and ``.sums``)
promise. A damaged shard is removed and listed in `repairs`; its images are simply not cached any
more, so the next pre-label encodes exactly those again. `verify()` also checks the sha256 sums.
Shards are read through numpy memory maps, so a re-score of 100k images touches only the rows
it asks for.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import re
import shutil
import socket
import threading
import time
import uuid
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import BinaryIO, Literal, overload
from urllib.parse import unquote, urlparse

import numpy as np
import torch

_PARTS = ("g", "r", "b")  # required; "s" (image W,H) and "p" (pooled patch tokens) are optional
_OPTIONAL = ("s", "p")
_MAX_OPEN_SHARDS = 8  # mapped pages count as resident memory: keep few maps open
_ORPHAN_AGE_S = 600  # parts of a shard without commit record, from a writer we cannot identify
_TMP_RE = re.compile(r"^\.tmp-p(\d+)(?:h([0-9a-f]{8}))?-")
_SID_RE = re.compile(r"^[0-9a-f]{32}(?:p(\d+))?$")
#: this machine, in temporary file names: pids are only compared on the host that wrote them
_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


class StoreError(ValueError):
    """The configured feature store cannot be used (unknown URL scheme, not a folder)."""


def store_root(spec: str | os.PathLike[str] | None, default: Path) -> Path:
    """The folder of the feature store `spec` names: empty → `default` (beside the project), a path,
    or a ``file://`` URL. Other schemes (s3://, gs://) are refused with what to do instead: mount
    the bucket (s3fs, gcsfuse) and give the folder; the layout needs no renames across keys."""
    text = os.fspath(spec).strip() if spec is not None else ""
    if not text:
        return Path(default)
    url = urlparse(text)
    if url.scheme == "file":
        if url.netloc not in ("", "localhost"):
            raise StoreError(f"feature store {text}: a file:// URL names a local path (file:///mnt/share/...)")
        path = Path(unquote(url.path))
    elif len(url.scheme) > 1:  # one letter is a Windows drive
        raise StoreError(f"feature store {text}: {url.scheme}:// is not supported; mount it "
                         "(s3fs, gcsfuse, NFS, SMB) and give the folder")
    else:
        path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise StoreError(f"feature store {path} is not a folder")
    return path


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _npy_size(path: Path) -> tuple[tuple[int, ...], int] | None:
    """(shape, byte size the file must have) from an npy header; None if the header is unreadable."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, _fortran, dtype = np.lib.format.read_array_header_1_0(f)
            else:
                shape, _fortran, dtype = np.lib.format.read_array_header_2_0(f)
            offset = f.tell()
    except (OSError, ValueError, EOFError):
        return None
    return tuple(shape), offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@dataclass
class CacheCheck:
    """What a validation found: shards kept, shards removed (with why), debris swept."""

    shards: int = 0
    rows: int = 0
    damaged: list[tuple[str, str, int]] = field(default_factory=list)  # (shard, why, images)
    debris: int = 0  # half-written files removed

    @property
    def lost_rows(self) -> int:
        return sum(n for _s, _w, n in self.damaged)


def _slug(text: str) -> str:
    """Filesystem-safe, collision-free directory name for a model id or view key."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:60].strip("._") or "x"
    return f"{safe}-{hashlib.sha256(text.encode()).hexdigest()[:10]}"


def _tmp_name(path: Path) -> Path:
    return path.with_name(f".tmp-p{os.getpid()}h{_HOST}-{uuid.uuid4().hex}-{path.name}")


def _write_aside(path: Path, write: Callable[[BinaryIO], object]) -> Path:
    """Write into a temporary file beside `path` (synced) and return it; nothing left on failure."""
    tmp = _tmp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        return tmp
    except OSError as err:
        tmp.unlink(missing_ok=True)
        if err.errno is None and _disk_nearly_full(path.parent):  # numpy: "N requested and M written"
            raise OSError(errno.ENOSPC, f"No space left on device ({err})", str(path)) from err
        raise
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _write_atomic(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Write aside, then rename; a failed write (full disk) leaves nothing behind."""
    tmp = _write_aside(path, write)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _disk_nearly_full(folder: Path) -> bool:
    try:
        return shutil.disk_usage(folder).free < 4 * 1024 * 1024
    except OSError:
        return False


def _save_array(f: BinaryIO, arr: np.ndarray) -> None:
    np.save(f, arr)


def _tensor_view(x: np.ndarray) -> torch.Tensor:
    """A tensor over `x` without copying, read-only memory maps included (only ever read from here)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(x)


def _older_than(f: Path, now: float, age_s: float) -> bool:
    try:
        return now - f.stat().st_mtime > age_s
    except OSError:
        return False


def _content_sid(names: Sequence[str], sums: dict[str, list]) -> str:
    """A shard's content address: its content-hash list and its parts' sha256 sums."""
    key = json.dumps([list(names), sorted((p, v[1]) for p, v in sums.items())])
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _unlink(f: Path) -> int:
    try:
        f.unlink()
        return 1
    except OSError:
        return 0


class FeatureCache:
    """Append-only, kill-safe store of image features keyed by content hash (see module docstring)."""

    def __init__(self, root: Path, model_id: str, view_key: str, *, space: Path | None = None) -> None:
        """The cache of (model_id, view_key) under `root`; `space` opens an existing space folder
        as it is (`lazlabel cache verify` walks them without knowing their model ids)."""
        self.root = Path(root)
        self.model_id = model_id
        self.view_key = view_key
        self.dir = Path(space) if space is not None else self.root / _slug(model_id) / _slug(view_key)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._index: dict[str, tuple[str, int]] = {}
        self._sids: set[str] = set()  # committed shards indexed (refresh reads only the others)
        self._maps: OrderedDict[str, dict[str, np.ndarray]] = OrderedDict()
        self._lock = threading.RLock()
        #: what opening the cache repaired, one line each (the use case shows them to the user)
        self.repairs: list[str] = []
        self.check = self._load_index()

    # ---------------------------------------------------------------- index and validation

    def _shard_files(self, sid: str) -> list[Path]:
        return [self.dir / f"{sid}.{p}.npy" for p in (*_PARTS, *_OPTIONAL)] + [
            self.dir / f"{sid}.sums",
            self.dir / f"{sid}.hashes",
        ]

    def _remove_shard(self, sid: str) -> None:
        with self._lock:
            self._maps.pop(sid, None)
        for f in reversed(self._shard_files(sid)):  # the commit record first
            try:
                f.unlink(missing_ok=True)
            except OSError:
                pass

    def _sweep_debris(self) -> int:
        """Remove what writers that are gone left: `.tmp-` files and parts without commit record."""
        n = 0
        now = time.time()
        committed = {m.name[: -len(".hashes")] for m in self.dir.glob("*.hashes")}
        for f in self.dir.iterdir():
            name = f.name
            if name.startswith(".tmp-"):
                m = _TMP_RE.match(name)
                if m is None or (m.group(2) in (None, _HOST) and not _pid_alive(int(m.group(1)))):
                    n += _unlink(f)
                elif m.group(2) != _HOST and _older_than(f, now, _ORPHAN_AGE_S):
                    n += _unlink(f)  # another machine's writer: we cannot ask about its pid
                continue
            sid = name.split(".", 1)[0]
            if sid in committed or not name.endswith((".npy", ".sums")):
                continue
            m = _SID_RE.match(sid)
            if m is None:
                continue
            pid = m.group(1)
            try:
                old = now - f.stat().st_mtime > _ORPHAN_AGE_S
            except OSError:
                continue
            if (pid is not None and not _pid_alive(int(pid))) or (pid is None and old):
                n += _unlink(f)
        return n

    def _validate(self, sid: str, n_rows: int, *, full: bool) -> str | None:
        """Why a committed shard cannot be used, or None: parts present, sizes as the npy headers
        (and `.sums`) say, rows matching the commit record; with `full`, sha256 as recorded."""
        sums: dict[str, list] = {}
        sums_file = self.dir / f"{sid}.sums"
        if sums_file.is_file():
            try:
                sums = json.loads(sums_file.read_text())
            except (OSError, ValueError):
                return "unreadable checksum record"
        shapes = {}
        for p in (*_PARTS, *_OPTIONAL):
            f = self.dir / f"{sid}.{p}.npy"
            try:
                size = f.stat().st_size
            except FileNotFoundError:
                if p in _PARTS:
                    return f"part {p} missing"
                continue
            except OSError as err:
                return f"part {p} unreadable ({err.strerror or err})"
            head = _npy_size(f)
            if head is None:
                return f"part {p} has no valid header"
            shape, want = head
            if size != want:
                return f"part {p} is {size} bytes, its header says {want} (truncated?)"
            rec = sums.get(p)
            if rec is not None and int(rec[0]) != size:
                return f"part {p} is {size} bytes, {rec[0]} were written"
            if full and rec is not None and _sha256(f) != rec[1]:
                return f"part {p} does not match its checksum"
            shapes[p] = shape
        if any(shape[0] != n_rows for shape in shapes.values()):
            return "row counts differ between parts and the commit record"
        if shapes["r"][:2] != shapes["b"][:2] or shapes["g"][1:] != shapes["r"][2:]:
            return "parts have inconsistent shapes"
        return None

    def _load_index(self, *, full: bool = False) -> CacheCheck:
        check = CacheCheck(debris=self._sweep_debris())
        if check.debris:
            self.repairs.append(f"feature cache: removed {check.debris} half-written file(s) of an interrupted write")
        self._index.clear()
        self._sids.clear()
        self._index_shards(sorted(self.dir.glob("*.hashes")), check, full=full)
        if check.damaged:
            self.repairs.append(
                f"feature cache: removed {len(check.damaged)} damaged shard(s) "
                f"({check.lost_rows} image(s), e.g. {check.damaged[0][1]}); they will be encoded again"
            )
        return check

    def _index_shards(self, manifests: Iterable[Path], check: CacheCheck, *, full: bool) -> None:
        """Validate and index committed shards (their commit records); damaged ones are removed."""
        for manifest in manifests:
            sid = manifest.name[: -len(".hashes")]
            try:
                hashes = manifest.read_text().split()
            except OSError:
                hashes = []
            why = self._validate(sid, len(hashes), full=full) if hashes else "empty commit record"
            if why is not None:
                check.damaged.append((sid, why, len(hashes)))
                self._remove_shard(sid)
                continue
            check.shards += 1
            check.rows += len(hashes)
            self._sids.add(sid)
            for row, h in enumerate(hashes):
                self._index.setdefault(h, (sid, row))

    def refresh(self) -> int:
        """Index the shards other processes (other machines, Ray workers) committed since this cache
        was opened; returns how many new images that made readable. Cheap: known shards are not read."""
        with self._lock:
            before = len(self._index)
            new = sorted(m for m in self.dir.glob("*.hashes") if m.name[: -len(".hashes")] not in self._sids)
            self._index_shards(new, self.check, full=False)
            return len(self._index) - before

    def verify(self) -> CacheCheck:
        """Check every shard (sizes and sha256 sums), removing damaged ones; the index is rebuilt."""
        with self._lock:
            self._maps.clear()
            earlier = self.check  # what opening already removed counts too
            self.check = self._load_index(full=True)
            self.check.damaged[:0] = earlier.damaged
            self.check.debris += earlier.debris
            return self.check

    def drop(self, hashes: Iterable[str]) -> int:
        """Remove every shard holding one of `hashes` (so they are encoded again); returns the
        number of cached rows removed (other images in those shards go too)."""
        want = set(hashes)
        with self._lock:
            sids = {sid for h, (sid, _row) in self._index.items() if h in want}
            gone = [h for h, (sid, _row) in self._index.items() if sid in sids]
            for sid in sids:
                self._remove_shard(sid)
                self._sids.discard(sid)
            for h in gone:
                del self._index[h]
        return len(gone)

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
        names = [hashes[i] for i in keep]
        tmps: dict[str, Path] = {}
        sid = ""
        try:
            sums = {}
            for p, arr in arrays.items():
                tmps[p] = _write_aside(self.dir / f"x.{p}.npy", partial(_save_array, arr=arr))
                sums[p] = [tmps[p].stat().st_size, _sha256(tmps[p])]
            sid = _content_sid(names, sums)
            if not (self.dir / f"{sid}.hashes").is_file():  # else: the same bytes are committed already
                for p, tmp in tmps.items():
                    os.replace(tmp, self.dir / f"{sid}.{p}.npy")
                _write_atomic(self.dir / f"{sid}.sums", lambda f: f.write(json.dumps(sums).encode()))
                _write_atomic(self.dir / f"{sid}.hashes", lambda f: f.write(("\n".join(names) + "\n").encode()))
        except BaseException:
            if sid and not (self.dir / f"{sid}.hashes").is_file():
                self._remove_shard(sid)  # a full disk (or Ctrl+C) leaves no parts behind
            raise
        finally:
            for tmp in tmps.values():
                tmp.unlink(missing_ok=True)
        with self._lock:
            self._sids.add(sid)
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
