"""Folder scan: find every image under the project's image root and record what its header says.

    result = drive(scan_folder(project))           # or cli.progress.run_with_progress(...)

Recursive (os.scandir), follows directory symlinks but never the same directory twice (so no
loops), skips hidden entries and the project's own cache. Headers only (`workflows.imagefiles`).
Size + mtime_ns is the change check: unchanged files are not reopened. Writes go in batches, each
its own transaction, so cancel or kill -9 loses at most one batch and a re-scan resumes.
Files that disappeared become status 'missing' (only after a complete walk); rows are never
deleted, so decisions survive a file being moved away and back. A decided file whose content
changed goes back into review: its decisions are kept, marked stale, and no export treats it as
decided until someone decides again (a file only touched, same bytes, keeps its decision).
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from PIL import Image

from db.store_images import KnownFile, ScanRecord
from workflows.errors import UserError
from workflows.imagefiles import IMAGE_EXTENSIONS, Probe, hash_file, probe
from workflows.progress import CancelToken, Progress, check

DEFAULT_BATCH = 1000
COUNT_EVERY = 10_000
_NOT_AGAIN = "already scanned (symlink loop or second link to a folder)"


@dataclass
class ScanResult:
    """What a scan found. `skipped` lists folders it could not or would not enter, with why."""

    root: Path
    seen: int = 0
    added: int = 0
    changed: int = 0
    unchanged: int = 0
    refreshed: int = 0  # re-probed with the same bytes (was missing or unreadable)
    missing: int = 0  # newly marked missing by this scan
    stale_decisions: int = 0  # decided images whose content changed: back in review, decisions kept as stale
    errors: int = 0  # files seen by this scan that are unreadable
    skipped: list[tuple[str, str]] = field(default_factory=list)
    elapsed_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.seen / self.elapsed_s if self.elapsed_s > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FoundFile:
    rel: str  # POSIX relative path as the OS gave it (surrogate escapes for undecodable bytes)
    abs: str
    size: int
    mtime_ns: int
    error: str | None = None  # set when even stat() failed (broken symlink, permissions)


def _db_path(rel: str) -> tuple[str, bytes | None]:
    """Text for the rel_path column, plus the exact bytes when the name is not valid UTF-8."""
    raw = os.fsencode(rel)
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError:
        return raw.decode("utf-8", "backslashreplace"), raw


def walk_images(
    root: Path, skipped: list[tuple[str, str]], exclude: Sequence[Path] = (), *, with_stat: bool = True
) -> Iterator[FoundFile]:
    """Image files under `root`, depth first in name order; loops and unreadable folders go to `skipped`.

    with_stat=False: names only (size and mtime 0), for a quick count before the real pass.
    """
    visited: set[tuple[int, int]] = set()
    for ex in exclude:
        try:
            st = os.stat(ex)
            visited.add((st.st_dev, st.st_ino))
        except OSError:
            pass
    st = os.stat(root)
    visited.add((st.st_dev, st.st_ino))
    stack: list[tuple[str, str]] = [(str(root), "")]
    while stack:
        path, rel = stack.pop()
        try:
            with os.scandir(path) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as err:
            skipped.append((rel or ".", _os_reason(err)))
            continue
        subdirs: list[tuple[str, str]] = []
        for e in entries:
            name = e.name
            if name.startswith("."):
                continue
            erel = f"{rel}/{name}" if rel else name
            try:
                is_dir = e.is_dir()
            except OSError as err:
                skipped.append((erel, _os_reason(err)))
                continue
            if is_dir:
                try:
                    dst = e.stat()
                except OSError as err:
                    skipped.append((erel, _os_reason(err)))
                    continue
                key = (dst.st_dev, dst.st_ino)
                if key in visited:
                    skipped.append((erel, _NOT_AGAIN))
                    continue
                visited.add(key)
                subdirs.append((e.path, erel))
                continue
            if os.path.splitext(name)[1].lower() not in IMAGE_EXTENSIONS:
                continue
            if not with_stat:
                yield FoundFile(erel, e.path, 0, 0)
                continue
            try:
                fst = e.stat()
            except FileNotFoundError:
                yield FoundFile(erel, e.path, 0, 0, "broken symlink" if e.is_symlink() else "vanished during scan")
                continue
            except OSError as err:
                yield FoundFile(erel, e.path, 0, 0, _os_reason(err))
                continue
            yield FoundFile(erel, e.path, fst.st_size, fst.st_mtime_ns)
        stack.extend(reversed(subdirs))


def _os_reason(err: OSError) -> str:
    return "permission denied" if isinstance(err, PermissionError) else f"unreadable ({err.strerror or err})"


def _probe_found(f: FoundFile) -> Probe:
    if f.error:
        return Probe("error", f.error)
    return probe(f.abs, f.size)


def _record(f: FoundFile, p: Probe, hash_all: bool) -> ScanRecord:
    text, raw = _db_path(f.rel)
    digest = p.content_hash
    if digest is None and hash_all and p.status == "ok":
        try:
            digest = hash_file(f.abs)
        except OSError:
            digest = None
    return ScanRecord(
        rel_path=text,
        raw_path=raw,
        size=f.size,
        mtime_ns=f.mtime_ns,
        status=p.status,
        error=p.error,
        width=p.width,
        height=p.height,
        format=p.format,
        mode=p.mode,
        content_hash=digest,
    )


class _Batch:
    """Files of one batch sorted into new / changed / refreshed by the size + mtime check."""

    def __init__(self) -> None:
        self.files: list[FoundFile] = []
        self.known: list[KnownFile | None] = []

    def __len__(self) -> int:
        return len(self.files)

    def add(self, f: FoundFile, known: KnownFile | None) -> None:
        self.files.append(f)
        self.known.append(known)


def scan_folder(
    project: Any,
    cancel: CancelToken | None = None,
    *,
    batch_size: int = DEFAULT_BATCH,
    workers: int = 0,
    processes: int = 0,
    hash_all: bool = False,
) -> Generator[Progress, None, ScanResult]:
    """Scan (or re-scan) the project's image folder; yields Progress, returns a ScanResult.

    workers: threads for header reads (0 = in this thread; threads do not help small files:
    header parsing holds the GIL). processes: worker processes instead (spawned, so safe from
    a GUI; they pay off on big folders with idle cores). hash_all: hash every file now (small
    files are always hashed, for free).
    Raises UserError if the image folder is gone; `Cancelled` between batches.
    """
    root = Path(project.image_root)
    if not root.is_dir():
        raise UserError(f"image folder {root} does not exist or is not a folder (was it moved?)")
    t0 = started = time.monotonic()
    result = ScanResult(root=root)
    known = project.scan_snapshot()
    cache = project.path.with_name(project.path.name + ".cache")
    # a names-only pass first (no stat, no reads: fast) so progress has a total and an ETA
    total_hint = 0
    for _ in walk_images(root, [], exclude=[cache], with_stat=False):
        total_hint += 1
        if total_hint % COUNT_EVERY == 0:
            yield Progress(total_hint, None, "counting files", "count", started)
            check(cancel)
    started = time.monotonic()
    seen_paths: set[str] = set()
    pool = _executor(workers, processes)
    try:
        batch = _Batch()
        for f in walk_images(root, result.skipped, exclude=[cache]):
            text, _raw = _db_path(f.rel)
            if text in seen_paths:  # a literal "\xff" in one name vs a raw 0xff byte in another
                result.skipped.append((text, "name clashes with another file once its bytes are escaped"))
                continue
            seen_paths.add(text)
            result.seen += 1
            k = known.get(text)
            if k is not None and k.status == "ok" and k.size == f.size and k.mtime_ns == f.mtime_ns and not f.error:
                result.unchanged += 1
            else:
                batch.add(f, k)
            if len(batch) >= batch_size:
                _write(project, batch, pool, hash_all, result)
                batch = _Batch()
                yield Progress(result.seen, max(total_hint or 0, result.seen) or None, "scanning", "scan",
                               started, {"errors": result.errors})
                check(cancel)
            elif result.seen % batch_size == 0:
                yield Progress(result.seen, max(total_hint or 0, result.seen) or None, "scanning", "scan",
                               started, {"errors": result.errors})
                check(cancel)
        if len(batch):
            _write(project, batch, pool, hash_all, result)
        check(cancel)
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    # files under a folder we could not read are not "gone": leave their rows as they are
    unreadable = tuple(f"{p}/" for p, why in result.skipped if not why.startswith(_NOT_AGAIN) and p != ".")
    gone = [
        k.id
        for path, k in known.items()
        if path not in seen_paths and k.status != "missing" and not path.startswith(unreadable or ("\0",))
    ]
    result.missing = project.mark_missing(gone) if gone else 0
    if result.added or result.changed or result.refreshed or result.missing:
        project.analyze()  # row counts moved: refresh the planner's statistics
    result.elapsed_s = time.monotonic() - t0
    yield Progress(result.seen, result.seen, "done", "scan", started, {"errors": result.errors})
    return result


def _quiet_bombs() -> None:
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)


def _executor(workers: int, processes: int) -> Executor | None:
    if processes > 0:
        return ProcessPoolExecutor(processes, mp_context=get_context("spawn"), initializer=_quiet_bombs)
    return ThreadPoolExecutor(max_workers=workers) if workers > 0 else None


def _write(project: Any, batch: _Batch, pool: Executor | None, hash_all: bool, result: ScanResult) -> None:
    with warnings.catch_warnings():  # bombs are recorded per file, not printed
        _quiet_bombs()
        if pool is None:
            probes = [_probe_found(f) for f in batch.files]
        else:
            probes = list(pool.map(_probe_found, batch.files, chunksize=max(1, len(batch.files) // 16)))
        records = [_record(f, p, hash_all) for f, p in zip(batch.files, probes)]
    new: list[ScanRecord] = []
    changed: dict[int, ScanRecord] = {}
    refreshed: dict[int, ScanRecord] = {}
    for f, rec, k in zip(batch.files, records, batch.known):
        if k is None:
            new.append(rec)
        elif k.size == rec.size and k.mtime_ns == rec.mtime_ns:
            refreshed[k.id] = rec
        else:
            if k.decided and k.content_hash and rec.content_hash is None and rec.status == "ok":
                rec = _with_hash(f, rec)  # a decision is at stake: compare the bytes, not the dates
            if k.content_hash and rec.content_hash == k.content_hash:
                refreshed[k.id] = rec  # touched or copied over with the same bytes
            else:
                changed[k.id] = rec
        result.errors += rec.status == "error"
    stale: list[int] = []
    project.write_scan_batch(new, changed, refreshed, stale_out=stale)
    result.added += len(new)
    result.changed += len(changed)
    result.refreshed += len(refreshed)
    result.stale_decisions += len(stale)


def _with_hash(f: FoundFile, rec: ScanRecord) -> ScanRecord:
    try:
        return dataclasses.replace(rec, content_hash=hash_file(f.abs))
    except OSError:
        return rec


def ensure_content_hash(
    project: Any, image_ids: Sequence[int] | None = None, *, workers: int = 2
) -> dict[int, str | None]:
    """Content hashes of images (hashing and storing those not known yet); None where unreadable.

    A file whose size/mtime no longer match the project (changed since the scan) is not hashed
    and maps to None: re-scan first. Hashing runs in threads (hashlib releases the GIL).
    """
    targets = project.images_for_hashes(image_ids, missing_only=True)
    out: dict[int, str | None] = {}
    if image_ids is not None:
        out.update(project.content_hashes(image_ids))

    def one(t: Any) -> tuple[int, str | None]:
        try:
            st = os.stat(t.path)
            if (st.st_size, st.st_mtime_ns) != (t.size, t.mtime_ns):
                return t.id, None
            return t.id, hash_file(t.path)
        except OSError:
            return t.id, None

    if workers > 0 and len(targets) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            hashed = list(pool.map(one, targets))
    else:
        hashed = [one(t) for t in targets]
    digests = {i: h for i, h in hashed if h is not None}
    project.set_content_hashes(digests, expect={t.id: (t.size, t.mtime_ns) for t in targets})
    out.update(dict(hashed))
    return out
