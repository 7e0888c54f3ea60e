"""Builders for real image files, good and broken, written with Pillow (or by hand where Pillow
refuses to write something broken). Each returns the path it wrote."""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

from PIL import Image


def noise(size: tuple[int, int], mode: str = "RGB", seed: int = 0) -> Image.Image:
    rng = random.Random(seed)
    im = Image.frombytes("RGB", size, bytes(rng.randrange(256) for _ in range(size[0] * size[1] * 3)))
    return im.convert(mode) if mode != "RGB" else im


def save(path: Path, im: Image.Image, fmt: str, **kw) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    path.write_bytes(buf.getvalue())
    return path


def cut(path: Path, keep: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A small, well-formed PNG whose header claims width x height (a decompression bomb)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data + _chunk(b"IEND", b""))
    return path


def exif_rotated_jpeg(path: Path, size: tuple[int, int] = (40, 20), orientation: int = 6) -> Path:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return save(path, noise(size), "JPEG", exif=exif.tobytes())


def _with_trailer(path: Path) -> Path:
    p = save(path, noise((64, 64)), "JPEG")
    p.write_bytes(p.read_bytes() + bytes(100_000))
    return p


def _write(data: bytes) -> Callable[[Path], Path]:
    def build(path: Path) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return build


OK, ERR = "ok", "error"
# rel_path -> (builder, expected status, reason kind (errors) or mode (good images))
CASES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "good/rgb.png": (lambda p: save(p, noise((16, 12)), "PNG"), OK, "RGB"),
    "good/photo.jpg": (lambda p: save(p, noise((64, 48)), "JPEG", quality=90), OK, "RGB"),
    "good/cmyk.jpg": (lambda p: save(p, noise((20, 20), "CMYK"), "JPEG"), OK, "CMYK"),
    "good/gray16.png": (lambda p: save(p, Image.new("I;16", (20, 10), 40000), "PNG"), OK, "I;16"),
    "good/palette.png": (lambda p: save(p, noise((20, 10), "P"), "PNG"), OK, "P"),
    "good/anim.gif": (lambda p: save(p, noise((20, 10), "P"), "GIF"), OK, "P"),
    "good/img.bmp": (lambda p: save(p, noise((9, 7)), "BMP"), OK, "RGB"),
    "good/img.tif": (lambda p: save(p, noise((9, 7)), "TIFF"), OK, "RGB"),
    "good/img.webp": (lambda p: save(p, noise((9, 7)), "WEBP"), OK, "RGB"),
    "good/UPPER.JPG": (lambda p: save(p, noise((8, 8)), "JPEG"), OK, "RGB"),
    "good/rotated.jpg": (exif_rotated_jpeg, OK, "RGB"),  # 40x20 stored, 20x40 shown
    # data appended after the JPEG end marker (like a motion photo): still a good image
    "good/trailer.jpg": (_with_trailer, OK, "RGB"),
    "bad/empty.jpg": (_write(b""), ERR, "zero-byte file"),
    "bad/notes.jpg": (_write(b"these are my notes, not a photo\n"), ERR, "not an image"),
    "bad/header.png": (_write(b"\x89PNG\r\n\x1a\n\x00\x00\x00\x04\x00\x01\x02\x03abcdcrc!" * 3), ERR, "corrupt header"),
    "bad/cut.png": (lambda p: cut(save(p, noise((64, 64)), "PNG"), 0.7), ERR, "truncated"),
    "bad/cut.jpg": (lambda p: cut(save(p, noise((128, 128)), "JPEG", quality=95), 0.6), ERR, "truncated"),
    "bad/cut.gif": (lambda p: cut(save(p, noise((64, 64), "P"), "GIF"), 0.6), ERR, "truncated"),
    "bad/cut.bmp": (lambda p: cut(save(p, noise((64, 64)), "BMP"), 0.6), ERR, "truncated"),
    "bad/cut.webp": (lambda p: cut(save(p, noise((64, 64)), "WEBP", lossless=True), 0.6), ERR, "truncated"),
    "bad/bomb.png": (lambda p: png_claiming(p, 100_000, 100_000), ERR, "decompression bomb"),
    # between Pillow's warning and error limits: Pillow only warns, the scan still refuses it
    "bad/bomb_warn.png": (lambda p: png_claiming(p, 10_000, 10_000), ERR, "decompression bomb"),
}


def make_corpus(root: Path) -> dict[str, tuple[str, str]]:
    """Write every case under root; returns rel_path -> (expected status, reason kind or mode)."""
    for rel, (build, _status, _what) in CASES.items():
        build(root / rel)
    return {rel: (status, what) for rel, (_b, status, what) in CASES.items()}
