"""Image bytes in and out of the site: uploads decoded through the package's own reader,
results encoded for responses and storage."""

from __future__ import annotations

import io

from PIL import Image

from fastnst.core.images import decode_image, resize_long_side

MEDIA_TYPES = {"png": "image/png", "jpeg": "image/jpeg"}


def read_upload(data: bytes, field: str, max_pixels: int, max_side: int | None) -> Image.Image:
    """An uploaded file's bytes -> RGB PIL image, upright, long side at most max_side px.

    The client's file name and content type are never looked at: the bytes decide. Raises
    FastNSTError (one line naming the form field) for empty, non-image, truncated or
    oversized data; the pixel limit is checked from the header before decoding.
    """
    image = decode_image(data, f"{field}: uploaded file", max_pixels,
                         "the site's --max-pixels setting")
    return resize_long_side(image, max_side)


def encode_image(image: Image.Image, fmt: str, quality: int = 90) -> bytes:
    """RGB PIL image -> PNG (lossless) or JPEG (`quality`, for previews and camera frames)."""
    buffer = io.BytesIO()
    if fmt == "png":
        image.save(buffer, "PNG", compress_level=6)
    else:
        image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()
