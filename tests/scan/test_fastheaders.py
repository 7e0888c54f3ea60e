"""The direct PNG/JPEG header readers agree with Pillow on every variant we can write."""

from __future__ import annotations

import io

import pytest
from PIL import Image

import workflows.imagefiles as imagefiles
from tests.scan.corpus import CASES, noise
from workflows.fastheaders import read_header
from workflows.imagefiles import probe


def _exif(orientation: int) -> bytes:
    e = Image.Exif()
    e[0x0112] = orientation
    e[0x010F] = "lazlabel camera"
    return e.tobytes()


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


VARIANTS: dict[str, tuple[bytes, bool]] = {}  # name -> (file bytes, fast path expected)
for _mode in ["1", "L", "LA", "P", "RGB", "RGBA", "I;16"]:
    VARIANTS[f"png-{_mode}"] = (_bytes(noise((13, 7), "RGB").convert(_mode), "PNG"), True)
VARIANTS["png-optimized"] = (_bytes(noise((9, 9)), "PNG", optimize=True), True)
VARIANTS["png-exif"] = (_bytes(noise((12, 5)), "PNG", exif=_exif(6)), False)  # eXIf: Pillow's turn
VARIANTS["png-transparency"] = (_bytes(noise((8, 8), "P"), "PNG", transparency=3), True)
for _mode in ["L", "RGB", "CMYK"]:
    VARIANTS[f"jpeg-{_mode}"] = (_bytes(noise((17, 11), _mode), "JPEG"), True)
VARIANTS["jpeg-progressive"] = (_bytes(noise((33, 21)), "JPEG", progressive=True), True)
VARIANTS["jpeg-optimized-restart"] = (_bytes(noise((33, 21)), "JPEG", optimize=True, restart_marker_blocks=1), True)
VARIANTS["jpeg-icc"] = (_bytes(noise((10, 10)), "JPEG", icc_profile=b"\0" * 3000), True)
VARIANTS["jpeg-xmp"] = (_bytes(noise((10, 6)), "JPEG", exif=_exif(6), xmp=b"<x:xmpmeta tiff:Orientation=\"8\"/>"), False)
for _o in range(1, 9):
    VARIANTS[f"jpeg-orientation-{_o}"] = (_bytes(noise((20, 12)), "JPEG", exif=_exif(_o)), True)


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_fast_reader_matches_pillow(tmp_path, monkeypatch, name):
    data, fast_expected = VARIANTS[name]
    path = tmp_path / name
    path.write_bytes(data)
    assert (read_header(data) is not None) == fast_expected
    fast = probe(path)
    monkeypatch.setattr(imagefiles, "FAST_HEADERS", False)
    slow = probe(path)
    assert fast == slow
    assert fast.status == "ok"


@pytest.mark.parametrize("rel", sorted(CASES))
def test_broken_files_get_the_same_verdict_either_way(tmp_path, monkeypatch, rel):
    build, _status, _what = CASES[rel]
    path = build(tmp_path / rel)
    with pytest.warns(Image.DecompressionBombWarning) if rel.endswith("bomb_warn.png") else _nothing():
        fast = probe(path)
        monkeypatch.setattr(imagefiles, "FAST_HEADERS", False)
        slow = probe(path)
    assert fast == slow


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("cut_at", [20, 40, 90, 150, 300])
def test_cut_headers_never_disagree_with_pillow(tmp_path, monkeypatch, cut_at):
    for fmt, kw in [("PNG", {}), ("JPEG", {"exif": _exif(6)})]:
        data = _bytes(noise((24, 24)), fmt, **kw)[:cut_at]
        path = tmp_path / f"cut.{fmt}"
        path.write_bytes(data)
        monkeypatch.setattr(imagefiles, "FAST_HEADERS", True)
        fast = probe(path)
        monkeypatch.setattr(imagefiles, "FAST_HEADERS", False)
        assert fast == probe(path), (fmt, cut_at)
