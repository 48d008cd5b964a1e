"""Quicklooks and thumbnails from a product's own preview image, resized with Pillow.

The preview is the image the product ships (Sentinel-1 ``preview/quick-look.png``, Sentinel-2
``*-ql.jpg`` or the JPEG 2000 PVI, a Sentinel-3 image when present); eohub never renders one
from the imagery. A preview that cannot be decoded gives no quicklook and a logged warning; it
never rejects the product.
"""

from __future__ import annotations

import io
import logging
import warnings
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageOps, UnidentifiedImageError, features

from eohub.ingest.errors import RejectedProduct
from eohub.ingest.source import MAX_METADATA_BYTES, ProductSource

log = logging.getLogger(__name__)

QUICKLOOK_SIZE = 512
THUMBNAIL_SIZE = 64
MAX_PREVIEW_PIXELS = 100_000_000
"""Largest preview (width x height) decoded; larger ones are treated as hostile."""

_JPEG_QUALITY = 85


@dataclass(frozen=True)
class Previews:
    """JPEG bytes of the quicklook (512 px longest side) and the thumbnail (64 px)."""

    quicklook: bytes
    thumbnail: bytes


def make_previews(
    data: bytes,
    *,
    quicklook_size: int = QUICKLOOK_SIZE,
    thumbnail_size: int = THUMBNAIL_SIZE,
    origin: str = "preview",
) -> Previews | None:
    """Quicklook and thumbnail JPEGs from a preview image, or None (with a warning) if it
    cannot be decoded. Images are shrunk to the given longest side, never enlarged."""
    try:
        image = _decode(data)
    except _DecodeError as exc:
        log.warning("no quicklook from %s: %s", origin, exc)
        return None
    return Previews(
        quicklook=_jpeg(image, quicklook_size),
        thumbnail=_jpeg(image, thumbnail_size),
    )


def product_previews(source: ProductSource, member: str | None) -> Previews | None:
    """Previews from a product member (``ProductMetadata.quicklook_member``); None without one.

    An unreadable or oversized member gives None and a warning, like a corrupt image.
    """
    if member is None:
        return None
    try:
        data = source.read(member, limit=MAX_METADATA_BYTES)
    except RejectedProduct as exc:
        log.warning("no quicklook from %s: %s", member, exc.reason)
        return None
    return make_previews(data, origin=f"{source.root_name}/{member}")


class _DecodeError(Exception):
    pass


def _decode(data: bytes) -> Image.Image:
    if data[:4] in (b"\x00\x00\x00\x0c", b"\xff\x4f\xff\x51") and not features.check("jpg_2000"):
        raise _DecodeError("JPEG 2000 preview, but Pillow has no JPEG 2000 decoder (OpenJPEG)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PREVIEW_PIXELS:
                raise _DecodeError(f"preview of {width}x{height} pixels is too large")
            image.load()
    except _DecodeError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
        OSError,
        SyntaxError,
        ValueError,
        EOFError,
    ) as exc:
        raise _DecodeError(f"not a readable image ({exc})") from None
    return _to_rgb(ImageOps.exif_transpose(image) or image)


def _to_rgb(image: Image.Image) -> Image.Image:
    """8-bit RGB or L for JPEG: 16-bit and float images are stretched to 0-255."""
    if image.mode in ("RGB", "L"):
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = image.convert("F")
        low, high = cast(tuple[float, float], gray.getextrema())
        scale = 255.0 / (float(high) - float(low)) if high != low else 0.0
        offset = -float(low) * scale
        return gray.point(lambda v: v * scale + offset).convert("L")
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (0, 0, 0))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def _jpeg(image: Image.Image, size: int) -> bytes:
    copy = image.copy()
    copy.thumbnail((size, size), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=_JPEG_QUALITY, optimize=True)
    return out.getvalue()
