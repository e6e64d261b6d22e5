"""Score published style-transfer results and fastnst models on one photo with fastnst-eval's
fixed metric, at one size, side by side.

    python scripts/compare_published.py --photo DIR/hoovertowernight.jpg --size 512 \
        --entry candy DIR/hoovertowernight_candy_johnson.jpg STYLES/candy.jpg paintings:candy \
        --entry la_muse DIR/hoovertowernight_la_muse_johnson.jpg STYLES/la_muse.jpg \
            paintings:la_muse

Each --entry is NAME PUBLISHED_RESULT STYLE_IMAGE MODEL: the published result is resized to
the photo's size at --size px on the long side, the model stylizes the photo at that size, and
both are scored against the style image (at the metric's 512 px) and the photo: style error
(lower: closer to the painting) and content error (lower: closer to the photo).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from fastnst.core.images import load_tensor
from fastnst.evaluation.metrics import METRIC_STYLE_SIZE, QualityMetric
from fastnst.inference.stylizer import Stylizer

MAX_PIXELS = 10**8


def score(name: str, published: Path, style: Path, model: str, photo: torch.Tensor
          ) -> dict[str, float | str]:
    """{"style", "published_style", "published_content", "ours_style", "ours_content"}."""
    metric = QualityMetric(load_tensor(style, MAX_PIXELS, METRIC_STYLE_SIZE))
    theirs = F.interpolate(load_tensor(published, MAX_PIXELS, 0), size=photo.shape[-2:],
                           mode="bilinear", antialias=True, align_corners=False).clamp(0, 1)
    ours = Stylizer.from_checkpoint(model, device="cpu").stylize_tensor(photo)
    published_errors, our_errors = metric(theirs, photo)[0], metric(ours, photo)[0]
    return {"style": name, "model": model,
            "published_style": published_errors.style,
            "published_content": published_errors.content,
            "ours_style": our_errors.style, "ours_content": our_errors.content}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photo", type=Path, required=True)
    parser.add_argument("--size", type=int, default=512, help="long side, px")
    parser.add_argument("--entry", nargs=4, action="append", required=True,
                        metavar=("NAME", "PUBLISHED", "STYLE", "MODEL"))
    parser.add_argument("-o", "--output", type=Path, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    photo = load_tensor(args.photo, MAX_PIXELS, args.size)
    rows = [score(name, Path(published), Path(style), model, photo)
            for name, published, style, model in args.entry]
    print(f"{'style':16}{'published style':>16}{'content':>9}{'ours style':>12}{'content':>9}"
          f"  model")
    for row in rows:
        print(f"{row['style']:16}{row['published_style']:16.4f}{row['published_content']:9.4f}"
              f"{row['ours_style']:12.4f}{row['ours_content']:9.4f}  {row['model']}")
    if args.output:
        args.output.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
