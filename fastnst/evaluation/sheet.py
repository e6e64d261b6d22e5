"""Contact sheets: content photos (rows) stylized by several models (columns).

The first column holds the photos themselves, the header row each model's style image (its
name as text when the image is not found). Every cell is size x size px: photos and style
images are scaled to cover the square and centre-cropped, and photos are stylized at that
size, close to the 256 px crops the models are trained on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from PIL import Image, ImageDraw, ImageFont, ImageOps

from fastnst.core.assets import bundled_style
from fastnst.core.images import open_image, to_pil, to_tensor
from fastnst.evaluation.eval_config import SheetConfig
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import (
    load_model,
    recorded_style,
    require_one_style,
    resolve_spec,
)

GAP = 4  # px of background between the cells and around the grid
BACKGROUND = (255, 255, 255)
TEXT_COLOR = (0, 0, 0)


def square(image: Image.Image, size: int) -> Image.Image:
    """Scale a PIL image to cover size x size px and centre-crop it to that square."""
    return ImageOps.fit(image, (size, size), Image.Resampling.LANCZOS)


def text_cell(text: str, size: int) -> Image.Image:
    """A size x size px RGB cell with `text` centred, shrunk to fit the width."""
    cell = Image.new("RGB", (size, size), BACKGROUND)
    draw = ImageDraw.Draw(cell)
    font_size = max(8, size // 10)
    width = draw.textlength(text, font=ImageFont.load_default(font_size))
    if width > size - 2 * GAP:
        font_size = max(6, int(font_size * (size - 2 * GAP) / width))
    draw.text((size / 2, size / 2), text, fill=TEXT_COLOR, anchor="mm",
              font=ImageFont.load_default(font_size))
    return cell


def grid(rows: Sequence[Sequence[Image.Image | None]], size: int) -> Image.Image:
    """Paste size x size px cells row by row; None leaves a blank cell.

    Returns an RGB image of (cols * size + (cols + 1) * GAP) x (rows * size + (rows + 1) * GAP)
    px, cols being the longest row's length.
    """
    cols = max(len(row) for row in rows)
    sheet = Image.new("RGB", (cols * size + (cols + 1) * GAP, len(rows) * size
                              + (len(rows) + 1) * GAP), BACKGROUND)
    for r, row in enumerate(rows):
        for c, cell in enumerate(row):
            if cell is not None:
                sheet.paste(cell, (GAP + c * (size + GAP), GAP + r * (size + GAP)))
    return sheet


def style_header(meta: dict[str, Any], name: str, size: int, max_pixels: int) -> Image.Image:
    """The header cell of a model: its style image (the one it was trained on, else a bundled
    style of the same name), or the name as text when neither is found."""
    path = recorded_style(meta) or bundled_style(name)
    return square(open_image(path, max_pixels), size) if path else text_cell(name, size)


def make_sheet(config: SheetConfig) -> Image.Image:
    """Stylize config.content with each of config.models; returns the sheet (see grid)."""
    specs = [resolve_spec(model) for model in config.models]  # fail early on a typo
    photos = [square(open_image(path, config.max_pixels), config.size) for path in config.content]
    batch = torch.stack([to_tensor(photo) for photo in photos])  # (P, 3, S, S)
    header: list[Image.Image | None] = [None]
    columns: list[list[Image.Image]] = []
    for model, spec in zip(config.models, specs, strict=True):
        net, meta = load_model(spec)
        require_one_style(net, model)
        name = str(meta.get("style") or spec.path.stem)
        header.append(style_header(meta, name, config.size, config.max_pixels))
        outputs = Stylizer(net, device=config.device).stylize_tensor(batch)
        columns.append([to_pil(output) for output in outputs])
    rows = [[photo, *(column[i] for column in columns)] for i, photo in enumerate(photos)]
    return grid([header, *rows], config.size)
