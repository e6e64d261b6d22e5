"""Region masks for photorealistic style transfer: Luan et al.'s colour-coded PNGs, or found.

A mask file paints each region (sky, buildings, water, ...) of a photo in one of nine colours
(Luan et al. 2017, deep-photo-styletransfer's ExtractMask): the same colour in the content's
and the style's mask marks regions to match. In memory a mask is a label map: (H, W) int64,
each pixel the index of its colour in COLOURS.

Reading is robust to anti-aliased edges: a colour counts as a region when some pixels of it
are solid (their whole 3x3 neighbourhood within Luan et al.'s tolerance of that colour); edge
pixels, blends of two regions' colours, then snap to the nearest region colour. A solid area
of a colour that is none of the nine is an error naming the file and the colour.

Region sets: a content region that the style mask lacks is matched with the whole style image
(a warning); style regions the content lacks are ignored; content and style masks that share
no colour are an error (there would be nothing to match).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from fastnst.core.errors import FastNSTError
from fastnst.core.images import open_image, save_image

# Luan et al.'s colour codes, in their order (RGB, 0-255); their grey is 0.5 in [0, 1].
COLOURS: dict[str, tuple[int, int, int]] = {
    "blue": (0, 0, 255), "green": (0, 255, 0), "black": (0, 0, 0), "white": (255, 255, 255),
    "red": (255, 0, 0), "yellow": (255, 255, 0), "grey": (128, 128, 128),
    "light blue": (0, 255, 255), "purple": (255, 0, 255),
}
NAMES = tuple(COLOURS)
_PALETTE = torch.tensor(list(COLOURS.values()), dtype=torch.float32)  # (9, 3)
# Luan et al.'s ExtractMask: each channel within 0.1 (of 1) of the code.
TOLERANCE = 0.1 * 255
# A colour is a region when at least this share of the mask's pixels is solid in it (and at
# least one pixel): anti-aliased edges give no solid pixels of the blended colour (checked on
# the 12 masks of Luan et al.'s examples we have: their stray greys vanish), while a real
# region of 0.01 % is ~30 pixels at 700 px.
MIN_REGION_SHARE = 1e-4
# An unknown colour is an error when this share of the pixels has a 5x5 neighbourhood that is
# in no known colour: blurred edges leave none (in those 12 masks, up to 2.3 % of the pixels
# are blends, up to 0.2 % with a 3x3 neighbourhood of blends, none with a 5x5 one).
MAX_UNKNOWN_SHARE = 5e-4


def _erode(masks: torch.Tensor, radius: int = 1) -> torch.Tensor:
    """(K, H, W) bool -> pixels whose (2 radius + 1)^2 neighbourhood (inside the image) is all
    True."""
    as_float = masks.float()[None]
    size = 2 * radius + 1
    return (-F.max_pool2d(-as_float, size, stride=1, padding=radius))[0] > 0.5


def snap_colours(rgb: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """Colour-coded pixels (H, W, 3) uint8 -> label map (H, W) int64 of COLOURS indices.

    Every pixel gets the nearest (Euclidean RGB) colour among those present as regions.
    Raises FastNSTError naming `name` for a solid unknown colour or no region colour at all.
    """
    pixels = rgb.float()
    height, width = pixels.shape[:2]
    distance = (pixels[:, :, None, :] - _PALETTE).abs().amax(-1)  # (H, W, 9) per-channel max
    near = (distance <= TOLERANCE).permute(2, 0, 1)  # (9, H, W)
    solid = _erode(near).flatten(1).sum(1)  # (9,)
    minimum = max(1, round(MIN_REGION_SHARE * height * width))
    present = solid >= minimum
    far = _erode(~near.any(0)[None], radius=2)[0]
    if far.sum() > MAX_UNKNOWN_SHARE * height * width or not present.any():
        colours, counts = rgb[far if far.any() else ~near.any(0)].unique(dim=0,
                                                                       return_counts=True)
        if len(colours):
            r, g, b = (int(v) for v in colours[counts.argmax()])
            found = f"colour ({r}, {g}, {b}) / #{r:02x}{g:02x}{b:02x}"
        else:
            found = "no solid region"
        raise FastNSTError(f"{name}: {found} is not one of the mask colours "
                           f"({', '.join(NAMES)})")
    squared = ((pixels[:, :, None, :] - _PALETTE) ** 2).sum(-1)  # (H, W, 9)
    squared[:, :, ~present] = float("inf")
    return squared.argmin(-1)


def resize_labels(labels: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Label map (H, W) -> (h, w) by nearest neighbour (labels must not be blended)."""
    if tuple(labels.shape) == tuple(size):
        return labels
    resized = F.interpolate(labels[None, None].float(), size=size, mode="nearest-exact")
    return resized[0, 0].long()


def read_mask(path: str | Path, image_size: tuple[int, int], max_pixels: int,
              image_name: str = "its image") -> torch.Tensor:
    """A colour-coded mask file as a label map (H, W) for an image of image_size (W, H).

    A mask of another size than its image is resized with nearest neighbour, with a warning
    (labels are snapped first, at the mask's own size). Raises FastNSTError for unreadable
    files and unknown colours.
    """
    image = open_image(path, max_pixels)
    rgb = torch.from_numpy(np.array(image, dtype=np.uint8))  # (H, W, 3)
    labels = snap_colours(rgb, str(path))
    if image.size != tuple(image_size):
        warnings.warn(f"{path} is {image.size[0]}x{image.size[1]} px but {image_name} is "
                      f"{image_size[0]}x{image_size[1]}: the mask is resized with nearest "
                      f"neighbour", stacklevel=2)
        labels = resize_labels(labels, (image_size[1], image_size[0]))
    return labels


def read_labels(path: str | Path, photo_size: tuple[int, int], working_size: tuple[int, int],
                max_pixels: int, photo_name: str = "its image") -> torch.Tensor:
    """A mask file as the label map (h, w) of its photo's working copy.

    photo_size: the photo's own (W, H), which the mask is read at (read_mask: a mask of
    another size is resized, with a warning); working_size: the (h, w) the photo is worked at,
    which the labels are then resized to by nearest neighbour.
    """
    return resize_labels(read_mask(path, photo_size, max_pixels, photo_name), working_size)


def region_names(labels: torch.Tensor) -> list[str]:
    """Colour names present in a label map, in COLOURS order."""
    return [NAMES[i] for i in labels.unique().tolist()]


def match_regions(content: torch.Tensor, style: torch.Tensor, content_name: str = "content mask",
                  style_name: str = "style mask") -> list[int]:
    """The regions (COLOURS indices) to transfer: those of the content label map.

    Content regions the style lacks are kept (matched with the whole style) with a warning;
    style-only regions are ignored. Raises FastNSTError when the two share no region.
    """
    content_regions = content.unique().tolist()
    style_regions = set(style.unique().tolist())
    shared = [r for r in content_regions if r in style_regions]
    if not shared:
        raise FastNSTError(
            f"{content_name} and {style_name} share no region colour (content: "
            f"{', '.join(NAMES[r] for r in content_regions)}; style: "
            f"{', '.join(NAMES[r] for r in sorted(style_regions))})")
    missing = [NAMES[r] for r in content_regions if r not in style_regions]
    if missing:
        warnings.warn(f"{content_name}: {', '.join(missing)} not in {style_name}; "
                      f"{'that region takes' if len(missing) == 1 else 'those regions take'} "
                      "the style of the whole style image", stacklevel=2)
    return content_regions


def one_hot(labels: torch.Tensor, regions: Sequence[int]) -> torch.Tensor:
    """Label map (H, W) -> float32 masks (R, H, W), row r 1 where labels == regions[r]."""
    return torch.stack([(labels == r).float() for r in regions])


def mask_image(labels: torch.Tensor) -> Image.Image:
    """Label map (H, W) -> colour-coded RGB PIL image (the format read_mask reads)."""
    palette = _PALETTE.to(torch.uint8)
    return Image.fromarray(palette[labels.cpu()].numpy(), "RGB")


def save_mask(labels: torch.Tensor, path: Path) -> None:
    """Write a label map as a colour-coded PNG (atomically)."""
    save_image(mask_image(labels), path)
