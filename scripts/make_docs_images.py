"""Make the README's pictures of --strength and --preserve-colors under docs/images/.

    python scripts/make_docs_images.py            # from the repository root

One function per picture, through fastnst's Python API (Stylizer.with_controls is what
fastnst-stylize --strength S --preserve-colors runs). Models: the shipped starry_night,
which blends, and the miniature strength-conditioned model of the tests
(tests/fixtures/strength_conditioned.ckpt: width 0.25, 600 steps at 64 px on the CPU, so
coarser than a real model).
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from fastnst.core.images import open_image
from fastnst.evaluation.sheet import GAP, square
from fastnst.inference.stylizer import Stylizer

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "images"
PHOTO = ROOT / "fastnst" / "assets" / "content" / "chicago.jpg"
MODELS = {"starry_night": "starry_night",
          "miniature": str(ROOT / "tests" / "fixtures" / "strength_conditioned.ckpt")}
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
CELL = 192  # px per picture
JPEG_QUALITY = 88  # keeps each file under 300 KB
HEADER_HEIGHT, FONT_SIZE = 28, 16  # px


def labelled_grid(rows: dict[str, list[Image.Image]], columns: list[str]) -> Image.Image:
    """Cells of one size in rows, a label left of each row and a title above each column."""
    size = next(iter(rows.values()))[0].width
    font = ImageFont.load_default(FONT_SIZE)
    label_width = int(max(font.getlength(label) for label in rows)) + 2 * GAP
    width = label_width + len(columns) * (size + GAP)
    sheet = Image.new("RGB", (width, HEADER_HEIGHT + len(rows) * (size + GAP)), "white")
    draw = ImageDraw.Draw(sheet)
    for c, title in enumerate(columns):
        x = label_width + c * (size + GAP) + size / 2
        draw.text((x, HEADER_HEIGHT / 2), title, fill="black", anchor="mm", font=font)
    for r, (label, cells) in enumerate(rows.items()):
        top = HEADER_HEIGHT + r * (size + GAP)
        draw.text((GAP, top + size / 2), label, fill="black", anchor="lm", font=font)
        for c, cell in enumerate(cells):
            sheet.paste(cell, (label_width + c * (size + GAP), top))
    return sheet


def strength_strip(photo: Image.Image, size: int = CELL) -> Image.Image:
    """Rows: MODELS; columns: the photo stylized at each of STRENGTHS (0 is the photo)."""
    photo = square(photo, size)
    rows = {}
    for name, model in MODELS.items():
        stylizer = Stylizer.from_checkpoint(model, device="cpu")
        mode = "conditioned" if stylizer.strength_conditioned else "blended"
        rows[f"{name} ({mode})"] = [stylizer.with_controls(strength=s)(photo)
                                    for s in STRENGTHS]
    return labelled_grid(rows, [f"--strength {s:g}" for s in STRENGTHS])


def colour_example(photo: Image.Image, size: int = CELL) -> Image.Image:
    """Rows: MODELS; columns: the photo, stylized, stylized with --preserve-colors."""
    photo = square(photo, size)
    rows = {}
    for name, model in MODELS.items():
        stylizer = Stylizer.from_checkpoint(model, device="cpu")
        rows[name] = [photo, stylizer(photo), stylizer.with_controls(preserve_colors=True)(photo)]
    return labelled_grid(rows, ["photo", "stylized", "--preserve-colors"])


def main() -> int:
    OUT.mkdir(parents=True, exist_ok=True)
    photo = open_image(PHOTO, 100_000_000)
    for name, picture in (("strength.jpg", strength_strip(photo)),
                          ("preserve_colors.jpg", colour_example(photo))):
        target = OUT / name
        picture.save(target, quality=JPEG_QUALITY)
        print(f"{target.relative_to(ROOT)}  ({picture.width}x{picture.height}, "
              f"{target.stat().st_size / 1e3:.0f} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
