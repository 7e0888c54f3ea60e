"""Robust image opening: every odd file becomes an RGB image or a one-line reason, never a crash."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

#: Pixel budget above which an image is refused as a decompression bomb (PIL's own default is 89 M).
MAX_PIXELS = 178_956_970


class ImageError(Exception):
    """An image that cannot be used; str() is the reason to record for it."""


def _to_rgb(img: Image.Image) -> Image.Image:
    """CMYK, 16-bit, float, palette, grey+alpha, RGBA → 8-bit RGB (transparency onto white)."""
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        lo, hi = float(np.nanmin(a)), float(np.nanmax(a))
        a = np.zeros_like(a) if hi <= lo else (a - lo) / (hi - lo) * 255.0
        return Image.fromarray(np.nan_to_num(a).astype(np.uint8), "L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        bg = Image.new("RGB", rgba.size, (255, 255, 255))
        bg.paste(rgba, mask=rgba.getchannel("A"))
        return bg
    return img.convert("RGB")


def open_rgb(path: Path | str) -> Image.Image:
    """Open, fully decode, EXIF-orient and convert to RGB; raise ImageError(reason) otherwise."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as e:
        raise ImageError(f"cannot read file: {e.strerror or e}") from None
    if size == 0:
        raise ImageError("empty file (0 bytes)")
    old_truncated, old_max = ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                if im.width * im.height > MAX_PIXELS:
                    raise ImageError(f"image too large ({im.width}x{im.height} pixels; limit {MAX_PIXELS})")
                im.load()
                im = ImageOps.exif_transpose(im) or im
                out = _to_rgb(im)
                out.load()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"image too large (decompression bomb guard): {e}") from None
    except UnidentifiedImageError:
        raise ImageError("not an image file PIL can read") from None
    except OSError as e:
        msg = str(e)
        if "truncated" in msg.lower():
            raise ImageError("truncated image file") from None
        raise ImageError(f"unreadable image: {msg}") from None
    except (ValueError, SyntaxError, EOFError, MemoryError, Exception) as e:  # noqa: B014 - codec bugs raise anything
        raise ImageError(f"broken image: {type(e).__name__}: {e}") from None
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES, Image.MAX_IMAGE_PIXELS = old_truncated, old_max
    if out.width < 1 or out.height < 1:
        raise ImageError("image has no pixels")
    return out
