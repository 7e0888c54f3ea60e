"""Thumbnails made off the GUI thread, cached on disk and in memory.

`ThumbnailService.get(image_id, path, key)` answers at once: the pixmap if it is in memory,
else None after queueing a job. Jobs run in a private QThreadPool: read the disk cache
(`<project cache>/thumbs/<key>-<px>.jpg`) or decode the original with `QImageReader` at a reduced
size (`setScaledSize` lets the JPEG decoder downscale while decoding), write the cache file, and
hand the QImage back to the GUI thread (`ready(image_id)`). Jobs are served newest-first and the
queue is bounded, so fast scrolling never leaves a backlog of thumbnails nobody looks at.
"""

from __future__ import annotations

import collections
import os
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QSize, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QImage, QImageReader, QPixmap

MAX_PENDING = 256  # older requests beyond this are dropped (they scrolled out of view)
MEMORY_ITEMS = 1200  # pixmaps kept in memory (≤ 1200 × 160² × 4 B ≈ 120 MB; the disk cache refills fast)

QImageReader.setAllocationLimit(512)  # MB: refuse decompression bombs instead of allocating them


def cache_key(image_id: int, content_hash: str | None, size: int) -> str:
    """Stable on-disk key: the content hash when known (shared by duplicates), else id + bytes."""
    return content_hash[:24] if content_hash else f"id{image_id}-{size}"


def make_thumbnail(src: Path, dst: Path | None, px: int) -> QImage:
    """Decode `src` scaled to fit `px`×`px` (EXIF orientation applied); write `dst` if given.

    Raises OSError with the reader's reason when the file can't be decoded.
    """
    reader = QImageReader(os.fspath(src))
    reader.setAutoTransform(True)
    full = reader.size()
    if full.isValid() and (full.width() > px or full.height() > px):
        reader.setScaledSize(full.scaled(QSize(px, px), Qt.AspectRatioMode.KeepAspectRatio))
    img = reader.read()
    if img.isNull():
        raise OSError(reader.errorString() or "unreadable image")
    if img.width() > px or img.height() > px:  # formats that ignore setScaledSize
        img = img.scaled(px, px, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
    if img.hasAlphaChannel():
        flat = QImage(img.size(), QImage.Format.Format_RGB32)
        flat.fill(Qt.GlobalColor.white)
        from PySide6.QtGui import QPainter

        p = QPainter(flat)
        p.drawImage(0, 0, img)
        p.end()
        img = flat
    elif img.format() not in (QImage.Format.Format_RGB32, QImage.Format.Format_ARGB32):
        img = img.convertToFormat(QImage.Format.Format_RGB32)
    if dst is not None:
        tmp = dst.with_name(dst.name + f".{threading.get_ident()}.tmp")
        if img.save(os.fspath(tmp), "JPG", 85):
            os.replace(tmp, dst)
    return img


class _Signals(QObject):
    done = Signal(int, str, QImage, str)  # image_id, key, image (null on error), error


class _Job(QRunnable):
    """Takes the newest pending request when it runs (not necessarily the one that started it)."""

    def __init__(self, service: ThumbnailService) -> None:
        super().__init__()
        self.setAutoDelete(True)
        self._service = service

    def run(self) -> None:
        req = self._service._pop()
        if req is None:
            return
        image_id, key, path = req
        dst = self._service.disk_path(key)
        try:
            if dst is not None and dst.exists():
                img = QImage(os.fspath(dst))
                if img.isNull():
                    img = make_thumbnail(path, dst, self._service.px)
            else:
                img = make_thumbnail(path, dst, self._service.px)
            self._service._signals.done.emit(image_id, key, img, "")
        except Exception as err:  # noqa: BLE001 - reported per image, never fatal
            self._service._signals.done.emit(image_id, key, QImage(), str(err) or type(err).__name__)


class ThumbnailService(QObject):
    """Per-project thumbnail cache; emits `ready(image_id)` when a requested thumbnail arrives."""

    ready = Signal(int)

    def __init__(self, cache_dir: Path | None, px: int = 160, parent: QObject | None = None, threads: int = 2):
        super().__init__(parent)
        self.px = px
        self._dir = Path(cache_dir) / "thumbs" if cache_dir is not None else None
        if self._dir is not None:
            self._dir.mkdir(parents=True, exist_ok=True)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._lock = threading.Lock()
        self._pending: collections.OrderedDict[str, tuple[int, str, Path]] = collections.OrderedDict()
        self._memory: collections.OrderedDict[str, QPixmap] = collections.OrderedDict()
        self.failed: dict[str, str] = {}  # key -> reason (not retried until clear())
        self._signals = _Signals()
        self._signals.done.connect(self._on_done, Qt.ConnectionType.QueuedConnection)

    def disk_path(self, key: str) -> Path | None:
        return None if self._dir is None else self._dir / f"{key}-{self.px}.jpg"

    def get(self, image_id: int, path: Path, key: str) -> QPixmap | None:
        """The thumbnail if ready; otherwise queue it (newest first) and return None."""
        pm = self._memory.get(key)
        if pm is not None:
            self._memory.move_to_end(key)
            return pm
        if key in self.failed:
            return None
        with self._lock:
            if key in self._pending:
                self._pending.move_to_end(key)
                return None
            self._pending[key] = (image_id, key, path)
            while len(self._pending) > MAX_PENDING:
                self._pending.popitem(last=False)
        self._pool.start(_Job(self))
        return None

    def error(self, key: str) -> str | None:
        return self.failed.get(key)

    def _pop(self) -> tuple[int, str, Path] | None:
        with self._lock:
            if not self._pending:
                return None
            return self._pending.popitem(last=True)[1]

    @Slot(int, str, QImage, str)
    def _on_done(self, image_id: int, key: str, img: QImage, error: str) -> None:
        if error:
            self.failed[key] = error
        else:
            self._memory[key] = QPixmap.fromImage(img)
            while len(self._memory) > MEMORY_ITEMS:
                self._memory.popitem(last=False)
        self.ready.emit(image_id)

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def clear(self) -> None:
        """Forget queued work and in-memory pixmaps (disk cache is kept)."""
        with self._lock:
            self._pending.clear()
        self._memory.clear()
        self.failed.clear()

    def shutdown(self, wait_ms: int = 5000) -> None:
        with self._lock:
            self._pending.clear()
        self._pool.waitForDone(wait_ms)
