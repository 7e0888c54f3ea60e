"""Image files without decoding them: which names are images, header probes, content hashes.

`probe(path, size)` reads only what the header (and a short tail, for truncation) needs and
never decodes pixels, so it is fast and safe against decompression bombs. Every failure is a
`Probe` with `status='error'` and a one-line reason, never an exception: a bad file must not stop
a scan. Reasons have the form "kind" or "kind (detail)"; `db.store_images.error_kind` groups them.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import BinaryIO

from PIL import Image, ImageFile, UnidentifiedImageError

from workflows.fastheaders import read_header

FAST_HEADERS = True  # False: every header through Pillow (the tests compare both paths)

# --- which files are images ---------------------------------------------------------------------

# extension (lower case, with dot) -> the format Pillow should find inside
IMAGE_EXTENSIONS: dict[str, str] = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".jfif": "JPEG",
    ".png": "PNG",
    ".gif": "GIF",
    ".bmp": "BMP",
    ".dib": "BMP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".webp": "WEBP",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pbm": "PPM",
    ".pnm": "PPM",
    ".tga": "TGA",
    ".jp2": "JPEG2000",
    ".j2k": "JPEG2000",
}


# --- hashing --------------------------------------------------------------------------------------

HASH_NAME = "blake2b-256"


def hash_bytes(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=32).hexdigest()


def hash_file(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """Content hash of a file's bytes (hex, 64 chars); streams, so any size is fine."""
    h = hashlib.blake2b(digest_size=32)
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


# --- probing --------------------------------------------------------------------------------------

SMALL_FILE = 256 * 1024  # read whole (one syscall, hashed for free); larger: header + tail only
TAIL = 64 * 1024
_SWAPS_AXES = {5, 6, 7, 8}  # EXIF orientations that rotate by 90 degrees
_EXIF_ORIENTATION = 0x0112

# leading bytes of formats we know, to tell "corrupt image" from "not an image"
_MAGIC: dict[bytes, str] = {
    b"\xff\xd8\xff": "JPEG",
    b"\x89PNG\r\n\x1a\n": "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WEBP",
}


@dataclass(frozen=True, slots=True)
class Probe:
    status: str  # ok | error
    error: str | None = None
    width: int | None = None  # as displayed: EXIF rotation applied
    height: int | None = None
    format: str | None = None
    mode: str | None = None  # RGB, L, P, CMYK, I;16, RGBA...
    content_hash: str | None = None  # only when the whole file was read anyway


def _error(reason: str, **kw: object) -> Probe:
    return Probe("error", reason, **kw)  # type: ignore[arg-type]


def _sniff(head: bytes) -> str | None:
    return next((fmt for magic, fmt in _MAGIC.items() if head.startswith(magic)), None)


def _tail(f: BinaryIO, size: int, n: int = TAIL) -> bytes:
    f.seek(max(0, size - n))
    return f.read(n)


def _check_png(f: BinaryIO, size: int, im: Image.Image) -> str | None:
    return None if b"IEND" in _tail(f, size, 4096) else "truncated (no PNG end chunk)"


def _check_gif(f: BinaryIO, size: int, im: Image.Image) -> str | None:
    return None if _tail(f, size, 64).rstrip(b"\x00").endswith(b";") else "truncated (no GIF trailer)"


def _check_jpeg(f: BinaryIO, size: int, im: Image.Image) -> str | None:
    if b"\xff\xd9" in _tail(f, size) or ImageFile.LOAD_TRUNCATED_IMAGES:
        return None
    # No end marker near the end: truncated, or data appended after it (motion photos).
    # Decide by a reduced decode (DCT scaling: 1/8 size, cheap) that fails on truncation.
    try:
        im.draft("L", (max(1, im.width // 8), max(1, im.height // 8)))
        im.load()
    except OSError as err:
        return f"truncated ({err})"
    except Exception as err:  # noqa: BLE001 - any decoder failure is a corrupt file
        return f"corrupt JPEG data ({err})"
    return None


def _check_riff(f: BinaryIO, size: int, im: Image.Image | None) -> str | None:
    f.seek(4)
    declared = struct.unpack("<I", f.read(4))[0] + 8
    return f"truncated ({size} of {declared} bytes)" if declared > size else None


def _check_bmp(f: BinaryIO, size: int, im: Image.Image | None) -> str | None:
    f.seek(2)
    declared = struct.unpack("<I", f.read(4))[0]
    return f"truncated ({size} of {declared} bytes)" if declared > size else None


# format -> cheap truncation check (formats without one are checked at decode time)
TRUNCATION_CHECKS: dict[str, Callable[[BinaryIO, int, Image.Image], str | None]] = {
    "PNG": _check_png,
    "GIF": _check_gif,
    "JPEG": _check_jpeg,
    "MPO": _check_jpeg,
    "WEBP": _check_riff,
    "BMP": _check_bmp,
}


# format -> check that needs no parsed image: explains why a header failed to open
SIZE_CHECKS: dict[str, Callable[[BinaryIO, int, None], str | None]] = {
    "WEBP": _check_riff,
    "BMP": _check_bmp,
}


def _orientation(im: Image.Image) -> int:
    """EXIF orientation from data the header parse already holds (never forces a decode)."""
    try:
        if "exif" in im.info or im.format == "TIFF":
            return int(im.getexif().get(_EXIF_ORIENTATION, 1) or 1)
    except Exception:  # noqa: BLE001 - broken EXIF is not a broken image
        return 1
    return 1


def _bomb(err: Exception) -> Probe:
    nums = re.findall(r"\d+", str(err))
    detail = f"{nums[0]} pixels > {nums[1]}" if len(nums) >= 2 else str(err)
    return _error(f"decompression bomb ({detail})")


def _open_failure(f: BinaryIO, size: int, err: Exception) -> Probe:
    """Why Pillow could not read the header: not an image, cut short, or corrupt."""
    f.seek(0)
    fmt = _sniff(f.read(16))
    if fmt is None:
        return _error("not an image")
    size_check = SIZE_CHECKS.get(fmt)
    try:
        reason = size_check(f, size, None) if size_check else None
    except Exception:  # noqa: BLE001
        reason = None
    if reason:
        return _error(reason)
    if "truncated" in str(err).lower():
        return _error(f"truncated (header cut short; looks like {fmt})")
    detail = "" if isinstance(err, UnidentifiedImageError) else f": {type(err).__name__}: {err}"
    return _error(f"corrupt header (looks like {fmt}{detail})")


def _probe_open(f: BinaryIO, size: int) -> Probe:
    try:
        im = Image.open(f)
    except Image.DecompressionBombError as err:
        return _bomb(err)
    except Exception as err:  # noqa: BLE001 - every parser failure is a per-file reason
        return _open_failure(f, size, err)
    w, h = im.size
    fmt, mode = im.format, im.mode
    if w * h > (Image.MAX_IMAGE_PIXELS or 1 << 62):
        return _error(f"decompression bomb ({w}x{h} = {w * h} pixels > {Image.MAX_IMAGE_PIXELS})",
                      width=w, height=h, format=fmt, mode=mode)
    if w <= 0 or h <= 0:
        return _error(f"corrupt header ({w}x{h} pixels)", format=fmt, mode=mode)
    check = TRUNCATION_CHECKS.get(fmt or "")
    if check is not None:
        try:
            reason = check(f, size, im)
        except Exception as err:  # noqa: BLE001
            reason = f"truncated ({type(err).__name__}: {err})"
        if reason:
            return _error(reason, width=w, height=h, format=fmt, mode=mode)
    if _orientation(im) in _SWAPS_AXES:
        w, h = h, w
    return Probe("ok", None, w, h, fmt, mode)


# format -> truncation test on the bytes of a whole file in memory (fast path only)
_TAIL_OK: dict[str, Callable[[bytes], bool]] = {
    "PNG": lambda data: b"IEND" in data[-4096:],
    "JPEG": lambda data: b"\xff\xd9" in data[-TAIL:],
}


def _probe_fast(data: bytes) -> Probe | None:
    """The common case without Pillow: a well-formed small PNG/JPEG. None: ask Pillow."""
    if not FAST_HEADERS:
        return None
    h = read_header(data)
    if h is None or h.width * h.height > (Image.MAX_IMAGE_PIXELS or 1 << 62):
        return None  # Pillow's path words the bomb reasons
    if not _TAIL_OK[h.format](data):
        return None  # possibly truncated: Pillow's path decides and says why
    w, ht = (h.height, h.width) if h.orientation in _SWAPS_AXES else (h.width, h.height)
    return Probe("ok", None, w, ht, h.format, h.mode)


def probe(path: str | os.PathLike[str] | bytes, size: int | None = None) -> Probe:
    """Header facts of one file, or the reason it is not a usable image."""
    try:
        if size is None:
            size = os.stat(path).st_size
        if size == 0:
            return _error("zero-byte file")
        with open(path, "rb") as f:
            if size <= SMALL_FILE:
                data = f.read()
                if not data:
                    return _error("zero-byte file")
                res = _probe_fast(data) or _probe_open(io.BytesIO(data), len(data))
                return Probe(res.status, res.error, res.width, res.height, res.format, res.mode, hash_bytes(data))
            return _probe_open(f, size)
    except PermissionError:
        return _error("permission denied")
    except FileNotFoundError:
        return _error("vanished during scan")
    except IsADirectoryError:
        return _error("not a file")
    except OSError as err:
        return _error(f"unreadable ({err.strerror or err})")

