"""Direct readers of PNG and JPEG headers for the common cases (the bulk of any dataset).

Pillow's `Image.open` is general and safe but costs ~100-300 us per small file in Python; these
readers take a few us. They return None for anything unusual (MPO, XMP orientation, eXIf in PNG,
odd bit depths, broken structure), and the caller then asks Pillow, so results never differ from
Pillow's (a test compares them on a corpus of modes and orientations).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

try:  # Pillow's own (bit depth, colour type) -> mode table, so modes match Image.open exactly
    from PIL.PngImagePlugin import _MODES as _PIL_PNG_MODES

    PNG_MODES: dict[tuple[int, int], str] = {k: v[0] for k, v in _PIL_PNG_MODES.items()}
except ImportError:  # pragma: no cover - a Pillow without the table: always use Pillow
    PNG_MODES = {}

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_JPEG_MODES = {1: "L", 3: "RGB", 4: "CMYK"}
_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_STANDALONE = {0x01, 0xD8} | set(range(0xD0, 0xD8))


@dataclass(frozen=True, slots=True)
class Header:
    format: str
    width: int
    height: int
    mode: str
    orientation: int = 1


def png_header(data: bytes) -> Header | None:
    if len(data) < 33 or not data.startswith(PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    (length,) = struct.unpack(">I", data[8:12])
    if length != 13 or zlib.crc32(data[12:29]) != struct.unpack(">I", data[29:33])[0]:
        return None
    w, h, bits, color, _comp, _filt, _lace = struct.unpack(">IIBBBBB", data[16:29])
    mode = PNG_MODES.get((bits, color))
    if mode is None or w == 0 or h == 0:
        return None
    pos = 33
    while pos + 8 <= len(data):  # chunks up to the pixel data: Pillow reads eXIf only there
        (n,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind == b"IDAT":
            return Header("PNG", w, h, mode)
        if kind == b"eXIf" or pos + 12 + n > len(data):
            return None  # orientation may apply / chunk cut short: leave it to Pillow
        if zlib.crc32(data[pos + 4 : pos + 8 + n]) != struct.unpack(">I", data[pos + 8 + n : pos + 12 + n])[0]:
            return None  # Pillow rejects broken chunks before the pixels
        pos += 12 + n
    return None  # no pixel data in reach: let Pillow give the reason


def _exif_orientation(tiff: bytes) -> int | None:
    """Orientation from IFD0 of an EXIF (TIFF-structured) block; None if it cannot tell."""
    if len(tiff) < 8:
        return None
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (magic, ifd) = struct.unpack(order + "HI", tiff[2:8])
    if magic != 42 or ifd + 2 > len(tiff):
        return None
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for k in range(count):
        e = ifd + 2 + 12 * k
        if e + 12 > len(tiff):
            return None
        tag, typ, cnt = struct.unpack(order + "HHI", tiff[e : e + 8])
        if tag == 0x0112:
            if typ != 3 or cnt != 1:
                return None
            return struct.unpack(order + "H", tiff[e + 8 : e + 10])[0]
    return 1


def jpeg_header(data: bytes) -> Header | None:
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    i, n, orientation, seen_exif = 2, len(data), 1, False
    frame: tuple[int, int, str] | None = None
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in _STANDALONE:
            i += 2
            continue
        (seglen,) = struct.unpack(">H", data[i + 2 : i + 4])
        if seglen < 2 or i + 2 + seglen > n:
            return None
        seg = data[i + 4 : i + 2 + seglen]
        if marker == 0xE1:
            if seg.startswith(b"Exif\x00\x00") and not seen_exif:
                seen_exif = True
                o = _exif_orientation(seg[6:])
                if o is None:
                    return None
                orientation = o
            elif seg.startswith(b"http://ns.adobe.com/xap/"):
                return None  # XMP may carry an orientation Pillow would honour
        elif marker == 0xE2 and seg.startswith(b"MPF\x00"):
            return None  # multi-picture: Pillow calls it MPO
        elif marker in _SOF:
            if len(seg) < 6 or frame is not None:
                return None
            bits, h, w, comps = struct.unpack(">BHHB", seg[:6])
            mode = _JPEG_MODES.get(comps)
            if mode is None or bits != 8 or w == 0 or h == 0:
                return None  # Pillow refuses these: let it say why
            frame = (w, h, mode)
        elif marker == 0xDA:  # start of scan: Pillow's header parse stops here too
            return Header("JPEG", *frame, orientation) if frame else None
        elif marker == 0xD9:
            return None
        i += 2 + seglen
    return None


# leading bytes -> reader
READERS: dict[bytes, Callable[[bytes], Header | None]] = {
    PNG_SIGNATURE: png_header,
    b"\xff\xd8\xff": jpeg_header,
}


def read_header(data: bytes) -> Header | None:
    """The header of a whole small file held in memory, or None: ask Pillow."""
    for magic, reader in READERS.items():
        if data.startswith(magic):
            try:
                return reader(data)
            except struct.error:
                return None
    return None
