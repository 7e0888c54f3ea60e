"""Project store: images — folder-scan writes, counts, page queries, paths and content hashes.

Scan writes are bulk core statements (executemany), one transaction per batch, so a killed scan
leaves every finished batch in place and a re-scan picks up where it stopped.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update

from db.connection import ProjectError
from db.models import Image, utcnow
from db.queries import ROW_COLUMNS, CurrentLabel, ImageFilter, ImageRow, order_by

_CHUNK = 5000  # ids per IN (...) list: far below every backend's parameter limit


@dataclass(frozen=True, slots=True)
class ScanRecord:
    """What a folder scan learned about one file (written by `write_scan_batch`)."""

    rel_path: str
    size: int
    mtime_ns: int
    status: str = "ok"
    error: str | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    mode: str | None = None
    raw_path: bytes | None = None  # os.fsencode(relative path) when it is not valid UTF-8
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class KnownFile:
    """What the project already holds for a path: enough for the size + mtime change check."""

    id: int
    size: int
    mtime_ns: int
    status: str
    decided: bool = False  # a curator decided it: a content change puts it back into review
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class HashTarget:
    """An image whose bytes may need hashing."""

    id: int
    path: Path
    size: int
    mtime_ns: int
    content_hash: str | None


def _record_values(rec: ScanRecord) -> dict[str, Any]:
    return {
        "rel_path": rec.rel_path,
        "raw_path": rec.raw_path,
        "size": rec.size,
        "mtime_ns": rec.mtime_ns,
        "status": rec.status,
        "error": rec.error,
        "width": rec.width,
        "height": rec.height,
        "format": rec.format,
        "mode": rec.mode,
        "content_hash": rec.content_hash,
    }


def _chunks(ids: Sequence[int], n: int = _CHUNK) -> Iterator[Sequence[int]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def _core(s: Any) -> Any:
    """The session's Connection: Core result rows, several times cheaper than ORM rows for
    100k-row reads (ids, the scan snapshot)."""
    return s.connection()


def _abs_path(root: Path, rel_path: str, raw_path: bytes | None) -> Path:
    return root / (os.fsdecode(raw_path) if raw_path is not None else rel_path)


def error_kind(error: str | None) -> str:
    """The reason without its detail: 'decompression bomb (1e9 pixels)' -> 'decompression bomb'."""
    return (error or "unknown error").split(" (", 1)[0]


class ImagesMixin:
    """Mixin of `db.project.Project`; uses `self.session()` for each unit of work."""

    # -- scan writes -------------------------------------------------------------------------
    def scan_snapshot(self) -> dict[str, KnownFile]:
        """rel_path -> KnownFile for every image row (the re-scan's change check)."""
        with self.session() as s:
            rows = _core(s).execute(
                select(
                    Image.rel_path,
                    Image.id,
                    Image.size,
                    Image.mtime_ns,
                    Image.status,
                    Image.review_status != "unreviewed",
                    Image.content_hash,
                )
            )
            return {r[0]: KnownFile(r[1], r[2], r[3], r[4], bool(r[5]), r[6]) for r in rows}

    def write_scan_batch(
        self,
        new: Sequence[ScanRecord],
        changed: Mapping[int, ScanRecord] | None = None,
        refreshed: Mapping[int, ScanRecord] | None = None,
        *,
        stale_out: list[int] | None = None,
    ) -> list[int]:
        """Write one scan batch in one transaction; returns the ids of `new` rows, in order.

        `new`: files not in the project. `changed` {id: record}: same path, other bytes (size or
        mtime differ) — the row loses its content hash and its now stale denormalised prediction,
        and a decided image goes back into review: its decisions stay, marked stale by an appended
        'stale' decision (`ReviewMixin.mark_decisions_stale`), in this same transaction so a kill
        cannot separate the two. Their ids are appended to `stale_out`.
        `refreshed` {id: record}: same bytes, re-probed (was missing or unreadable) — hash and
        prediction kept unless the record brings a hash; decisions untouched.
        """
        now = utcnow()
        t = Image.__table__
        with self.session() as s:
            if new:
                s.execute(insert(t), [{**_record_values(r), "added_at": now, "updated_at": now} for r in new])
            if changed:
                stale_ids = self._stale_decisions(s, changed)  # type: ignore[attr-defined]
                stale = {"pred_run_id": None, "pred_class_id": None, "pred_score": None, "pred_margin": None}
                self._update_by_id(s, changed, {**stale, "updated_at": now}, keep_hash=False)
                if stale_out is not None:
                    stale_out.extend(stale_ids)
            if refreshed:
                self._update_by_id(s, refreshed, {"updated_at": now}, keep_hash=True)
            if not new:
                return []
            paths = [r.rel_path for r in new]
            ids: dict[str, int] = {}
            for chunk in _chunks(paths):
                ids.update(s.execute(select(Image.rel_path, Image.id).where(Image.rel_path.in_(chunk))).all())
            return [ids[p] for p in paths]

    @staticmethod
    def _update_by_id(s: Any, records: Mapping[int, ScanRecord], extra: dict[str, Any], *, keep_hash: bool) -> None:
        """executemany UPDATE ... WHERE id = ?; with keep_hash, a record without hash keeps the old one."""
        t = Image.__table__
        by_hash: dict[bool, list[dict[str, Any]]] = {True: [], False: []}
        for i, r in records.items():
            vals = _record_values(r)
            skip_hash = keep_hash and r.content_hash is None
            if skip_hash:
                del vals["content_hash"]
            by_hash[skip_hash].append({"b_id": i, **vals})
        for rows in by_hash.values():
            if rows:
                cols = {k: bindparam(k) for k in rows[0] if k != "b_id"}
                stmt = update(t).where(t.c.id == bindparam("b_id")).values({**cols, **extra})
                s.execute(stmt, rows)

    def mark_missing(self, image_ids: Sequence[int]) -> int:
        """Files gone from disk: status 'missing'. Rows (and their decisions) are never deleted."""
        now = utcnow()
        n = 0
        with self.session() as s:
            for chunk in _chunks(list(image_ids)):
                res = s.execute(
                    update(Image)
                    .where(Image.id.in_(chunk), Image.status != "missing")
                    .values(status="missing", error=None, updated_at=now)
                    .execution_options(synchronize_session=False)
                )
                n += res.rowcount or 0
        return n

    def analyze(self) -> None:
        """Refresh the query planner's statistics (after a scan or a big run). Portable `ANALYZE`."""
        with self.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    # -- counts --------------------------------------------------------------------------------
    def counts(self) -> dict[str, Any]:
        """Totals for the status bar and `lazlabel status`.

        Keys: total, ok, error, missing, by_review_status {status: n}, predicted, decided,
        disagreements, errors_by_reason {reason: n}. Missing files count in `total`.
        """
        with self.session() as s:
            # one pass over the narrow (status, review_status, ...) covering index
            by_status: dict[str, int] = {}
            by_review: dict[str, int] = {}
            grouped = select(Image.status, Image.review_status, func.count()).group_by(
                Image.status, Image.review_status
            )
            for status, review, n in _core(s).execute(grouped):
                by_status[status] = by_status.get(status, 0) + n
                if status != "missing":
                    by_review[review] = by_review.get(review, 0) + n
            predicted = s.scalar(select(func.count()).where(Image.pred_score.is_not(None))) or 0
            disagreements = s.scalar(
                select(func.count()).select_from(Image).where(*ImageFilter(disagrees=True).clauses())
            )
            errors = s.execute(select(Image.error).where(Image.status == "error")).scalars()
            reasons: dict[str, int] = {}
            for e in errors:
                k = error_kind(e)
                reasons[k] = reasons.get(k, 0) + 1
        return {
            "total": sum(by_status.values()),
            "ok": by_status.get("ok", 0),
            "error": by_status.get("error", 0),
            "missing": by_status.get("missing", 0),
            "by_review_status": by_review,
            "predicted": predicted,
            "decided": sum(n for k, n in by_review.items() if k != "unreviewed"),
            "disagreements": disagreements or 0,
            "errors_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        }

    def image_errors(self, limit: int | None = None) -> list[tuple[int, str, str]]:
        """(id, rel_path, reason) of unreadable files, by path."""
        with self.session() as s:
            q = select(Image.id, Image.rel_path, Image.error).where(Image.status == "error").order_by(Image.rel_path)
            if limit is not None:
                q = q.limit(limit)
            return [(i, p, e or "unknown error") for i, p, e in s.execute(q)]

    # -- page queries ------------------------------------------------------------------------
    def page_images(
        self,
        filter: ImageFilter | None = None,
        sort: str = "name",
        offset: int = 0,
        limit: int = 200,
        *,
        seed: int = 0,
    ) -> list[ImageRow]:
        """One page of images matching `filter` in `sort` order (see `db.queries.SORTS`).

        Two steps: the ids of the page are chosen from narrow (covering) indexes, then only
        those rows are read — sorting 100k ids is cheap, sorting 100k full rows is not.
        """
        q = (
            select(Image.id)
            .where(*(filter or ImageFilter()).clauses())
            .order_by(*order_by(sort, seed))
            .offset(max(0, int(offset)))
            .limit(max(0, int(limit)))
        )
        with self.session() as s:
            ids = [r[0] for r in _core(s).execute(q)]
            if not ids:
                return []
            rows = {r[0]: ImageRow(*r) for r in s.execute(select(*ROW_COLUMNS).where(Image.id.in_(ids)))}
        return [rows[i] for i in ids if i in rows]

    def count_images(self, filter: ImageFilter | None = None) -> int:
        with self.session() as s:
            q = select(func.count()).select_from(Image).where(*(filter or ImageFilter()).clauses())
            return int(s.scalar(q) or 0)

    def image_ids(self, filter: ImageFilter | None = None, sort: str = "name", *, seed: int = 0) -> list[int]:
        """All ids matching `filter`, in `sort` order (for runs, exports, "select all")."""
        q = select(Image.id).where(*(filter or ImageFilter()).clauses()).order_by(*order_by(sort, seed))
        with self.session() as s:
            return [r[0] for r in _core(s).execute(q)]

    def image(self, image_id: int) -> ImageRow:
        with self.session() as s:
            r = s.execute(select(*ROW_COLUMNS).where(Image.id == image_id)).first()
        if r is None:
            raise ProjectError(f"no image with id {image_id}")
        return ImageRow(*r)

    def images(self, image_ids: Sequence[int]) -> list[ImageRow]:
        """Rows for ids, in the order given (unknown ids are skipped)."""
        found: dict[int, ImageRow] = {}
        with self.session() as s:
            for chunk in _chunks(list(image_ids)):
                found.update((r[0], ImageRow(*r)) for r in s.execute(select(*ROW_COLUMNS).where(Image.id.in_(chunk))))
        return [found[i] for i in image_ids if i in found]

    def current_label(self, image_id: int) -> CurrentLabel:
        """The image's label after its latest decision (denormalised, one indexed row read)."""
        with self.session() as s:
            r = s.execute(
                select(
                    Image.id,
                    Image.label_class_id,
                    Image.review_status,
                    Image.last_decision_id,
                    Image.pred_class_id,
                    Image.imported_class_id,
                ).where(Image.id == image_id)
            ).first()
        if r is None:
            raise ProjectError(f"no image with id {image_id}")
        return CurrentLabel(*r)

    # -- paths and hashes ----------------------------------------------------------------------
    def image_path(self, image_id: int) -> Path:
        """Absolute path of an image; exact bytes for names that are not valid UTF-8."""
        with self.session() as s:
            r = s.execute(select(Image.rel_path, Image.raw_path).where(Image.id == image_id)).first()
        if r is None:
            raise ProjectError(f"no image with id {image_id}")
        return _abs_path(self.image_root, r[0], r[1])

    def image_paths(self, image_ids: Sequence[int]) -> dict[int, Path]:
        """id -> absolute path for many images at once (unknown ids are left out)."""
        out: dict[int, Path] = {}
        root = self.image_root
        with self.session() as s:
            for chunk in _chunks(list(image_ids)):
                q = select(Image.id, Image.rel_path, Image.raw_path).where(Image.id.in_(chunk))
                out.update((i, _abs_path(root, p, raw)) for i, p, raw in s.execute(q))
        return out

    def images_for_hashes(
        self, image_ids: Sequence[int] | None = None, *, missing_only: bool = True
    ) -> list[HashTarget]:
        """Readable images (of `image_ids`, or all) whose content hash is unknown (or all if not missing_only)."""
        cols = (Image.id, Image.rel_path, Image.raw_path, Image.size, Image.mtime_ns, Image.content_hash)
        conds = [Image.status == "ok"]
        if missing_only:
            conds.append(Image.content_hash.is_(None))
        with self.session() as s:
            if image_ids is None:
                rows = list(s.execute(select(*cols).where(*conds).order_by(Image.id)))
            else:
                rows = []
                for chunk in _chunks(list(image_ids)):
                    rows.extend(s.execute(select(*cols).where(Image.id.in_(chunk), *conds)))
        root = self.image_root
        return [HashTarget(i, _abs_path(root, p, raw), sz, mt, h) for i, p, raw, sz, mt, h in rows]

    def set_content_hash(self, image_id: int, digest: str) -> None:
        self.set_content_hashes({image_id: digest})

    def set_content_hashes(
        self, digests: Mapping[int, str], *, expect: Mapping[int, tuple[int, int]] | None = None
    ) -> int:
        """Store hashes in one transaction. With `expect` {id: (size, mtime_ns)}, a row whose
        file changed since it was read (size/mtime differ) keeps no hash. Returns rows written."""
        if not digests:
            return 0
        t = Image.__table__
        stmt = update(t).where(t.c.id == bindparam("b_id"))
        if expect is not None:
            stmt = stmt.where(t.c.size == bindparam("b_size"), t.c.mtime_ns == bindparam("b_mtime"))
        stmt = stmt.values(content_hash=bindparam("b_hash"))
        params = []
        for i, h in digests.items():
            p: dict[str, Any] = {"b_id": i, "b_hash": h}
            if expect is not None:
                if i not in expect:
                    continue
                p["b_size"], p["b_mtime"] = expect[i]
            params.append(p)
        if not params:
            return 0
        with self.session() as s:
            res = s.execute(stmt, params)
            return int(res.rowcount or 0)

    def content_hashes(self, image_ids: Iterable[int]) -> dict[int, str | None]:
        ids = list(image_ids)
        out: dict[int, str | None] = {}
        with self.session() as s:
            for chunk in _chunks(ids):
                out.update(s.execute(select(Image.id, Image.content_hash).where(Image.id.in_(chunk))).all())
        return out

    def images_with_hash(self, digest: str) -> list[int]:
        """Ids of images with these exact bytes (duplicates share a hash)."""
        with self.session() as s:
            return list(s.scalars(select(Image.id).where(Image.content_hash == digest).order_by(Image.id)))
