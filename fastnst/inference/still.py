"""Stylizing one still image: what fastnst-stylize does for each image file and the web site
for each upload (videos: fastnst.inference.video).

    result = stylize_image(Stylizer.from_checkpoint("starry_night"), photo, max_size=1024)
    result.image.save("out.png")
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from PIL import Image

from fastnst.core.images import resize_long_side, to_pil, to_rgb, to_tensor
from fastnst.inference.smoothing import resolve_method, smooth
from fastnst.inference.stylizer import BaseStylizer, upright


@dataclass(frozen=True)
class StylizedImage:
    """image: the stylized RGB image, the size the photo was stylized at (max_size applied);
    smooth_method: "matting" or "guided" when smoothed, else None; seconds: wall time of
    stylizing and smoothing (not of decoding)."""

    image: Image.Image
    smooth_method: str | None
    seconds: float


def stylize_image(stylizer: BaseStylizer, photo: Image.Image, max_size: int | None = None,
                  smooth_method: str | None = None) -> StylizedImage:
    """Stylize `photo` (any mode; EXIF-rotated upright), downscaled first so its long side is
    at most `max_size` px (None keeps it; never upscaled).

    smooth_method: None, or "auto", "matting" or "guided" to smooth the stylized image along
    the photo's edges (fastnst.inference.smoothing) over the whole image, after any tiling.
    Smoothing works on the float tensors the stylizer already made, so the photo is converted
    to a tensor once and the result to 8 bits once; without smoothing, a tiled stylizer cuts
    its tiles from the 8-bit image and never holds the whole image as floats.
    """
    photo = resize_long_side(upright(photo), max_size)
    started = time.perf_counter()
    if smooth_method is None:
        return StylizedImage(stylizer(photo), None, time.perf_counter() - started)
    method = resolve_method(smooth_method, photo.width * photo.height)
    rgb = photo if photo.mode == "RGB" else to_rgb(photo)
    content = to_tensor(rgb).unsqueeze(0)  # (1, 3, H, W) in [0, 1]
    smoothed = smooth(stylizer.stylize_tensor(content), content, method)
    return StylizedImage(to_pil(smoothed[0]), method, time.perf_counter() - started)
