"""`fastnst-eval photoreal`: a folder of photorealistic results scored, method by method.

A pairs folder holds input/ (contents), style/, seg/ (masks, named like their images) and one
folder per method; files pair up by the number that ends their names (Luan et al.'s in<N>,
tar<N>, best<N>). A method folder may hold seconds.json ({"<N>": seconds}) for the table's
time column. Each output is scored with fastnst.photoreal.metrics (style error, masked style
error, structure) at the content's size after downscaling to --max-size, next to the photo
itself (the pseudo-method "photo") and the reference method.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from fastnst import __version__
from fastnst.core.devices import resolve_device
from fastnst.core.errors import FastNSTError
from fastnst.core.images import list_images, open_image, resize_long_side, to_tensor
from fastnst.evaluation.metrics import (
    METRIC_POOLING,
    METRIC_STYLE_LAYERS,
    METRIC_STYLE_SIZE,
    METRIC_VGG_WEIGHTS,
)
from fastnst.losses.masked import resize_masks
from fastnst.photoreal.metrics import (
    SSIM_K1,
    SSIM_K2,
    SSIM_RANGE,
    SSIM_SIGMA,
    SSIM_WINDOW,
    PhotorealMetric,
)

PAIR_FOLDERS = ("input", "style", "seg")
PHOTO = "photo"  # the pseudo-method "content unchanged": structure 1, the style error to beat
SECONDS_FILE = "seconds.json"


@dataclass(frozen=True)
class Pair:
    """One content-style pair of a pairs folder; masks are None when seg/ lacks them."""

    key: str
    content: Path
    style: Path
    content_mask: Path | None
    style_mask: Path | None


def pair_key(path: Path) -> str:
    """The number ending a file's stem (in14.jpg -> '14'), else the whole stem."""
    match = re.search(r"(\d+)$", path.stem)
    return match.group(1) if match else path.stem


def _sort_key(key: str) -> tuple[int, int | str]:
    return (0, int(key)) if key.isdigit() else (1, key)


def _by_key(folder: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for path in list_images([folder]):
        key = pair_key(path)
        if key in files:
            raise FastNSTError(f"{folder}: {files[key].name} and {path.name} both end in {key}")
        files[key] = path
    return files


def find_pairs(folder: Path) -> list[Pair]:
    """The pairs of a pairs folder: input/ and style/ files with the same ending number."""
    for name in ("input", "style"):
        if not (folder / name).is_dir():
            raise FastNSTError(f"{folder}: no {name}/ folder (expected input/, "
                               "style/, optionally seg/, and one folder per method)")
    contents, styles = _by_key(folder / "input"), _by_key(folder / "style")
    masks = ({path.stem: path for path in list_images([folder / "seg"])}
             if (folder / "seg").is_dir() else {})
    keys = sorted(set(contents) & set(styles), key=_sort_key)
    if not keys:
        raise FastNSTError(f"{folder}: no input/ and style/ files pair up (names "
                           "ending in the same number, e.g. in1.jpg and tar1.jpg)")
    return [Pair(key, contents[key], styles[key], masks.get(contents[key].stem),
                 masks.get(styles[key].stem)) for key in keys]


def find_methods(folder: Path, outputs: Sequence[str]) -> dict[str, Path]:
    """Method name -> results folder: `outputs` (names of folders in `folder`, or paths) in
    order, or every folder of `folder` besides input/, style/ and seg/, sorted."""
    if not outputs:
        found = {path.name: path for path in sorted(folder.iterdir())
                 if path.is_dir() and path.name not in PAIR_FOLDERS}
        if not found:
            raise FastNSTError(f"{folder}: no results folders (one per method "
                               "beside input/ and style/), or name them with --outputs")
        return found
    methods: dict[str, Path] = {}
    for output in outputs:
        path = folder / output if (folder / output).is_dir() else Path(output)
        if not path.is_dir():
            raise FastNSTError(f"--outputs {output}: no such folder (here or in {folder})")
        if path.name in methods or path.name == PHOTO:
            raise FastNSTError(f"--outputs: two methods named {path.name} (\"{PHOTO}\" is the "
                               "content itself); rename a folder")
        methods[path.name] = path
    return methods


def read_seconds(folder: Path) -> dict[str, float]:
    """A method folder's seconds.json as {pair key: seconds} ({} when there is none)."""
    path = folder / SECONDS_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        return {pair_key(Path(str(key))): float(value) for key, value in data.items()}
    except (OSError, ValueError, AttributeError, TypeError) as err:
        raise FastNSTError(f"{path}: not a {{pair: seconds}} JSON object ({err})") from None


def load_masks(pair: Pair, content_size: tuple[int, int], style_size: tuple[int, int],
               content_shape: tuple[int, int], style_shape: tuple[int, int], max_pixels: int
               ) -> tuple[list[str], torch.Tensor, torch.Tensor] | None:
    """Soft masks of the regions the pair's two mask files share.

    content_size, style_size: the photos' own (W, H), which the mask files should have;
    content_shape, style_shape: the (H, W) the masks are wanted at (area resized).
    Returns (region names, content masks (R, H, W), style masks (R, Hs, Ws)), or None when a
    mask is missing or the two share no colour.
    """
    if pair.content_mask is None or pair.style_mask is None:
        return None
    from fastnst.photoreal.masks import NAMES, one_hot, read_mask

    content = read_mask(pair.content_mask, content_size, max_pixels, str(pair.content))
    style = read_mask(pair.style_mask, style_size, max_pixels, str(pair.style))
    shared = sorted(set(content.unique().tolist()) & set(style.unique().tolist()))
    if not shared:
        return None
    return ([NAMES[r] for r in shared], resize_masks(one_hot(content, shared), content_shape),
            resize_masks(one_hot(style, shared), style_shape))


def _image_at(path: Path, size: tuple[int, int], max_pixels: int) -> torch.Tensor:
    """An image file as (1, 3, H, W) at exactly size (W, H) (Lanczos, as resize_long_side)."""
    image = open_image(path, max_pixels)
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return to_tensor(image).unsqueeze(0)


def evaluate_photoreal(folder: str | Path, outputs: Sequence[str] = (), reference: str = "luan",
                       max_size: int | None = 512, max_pixels: int = 10 ** 8,
                       device: str = "auto") -> dict[str, Any]:
    """Score every method's result for every pair of a pairs folder (see the module doc).

    Returns plain data for JSON: {"fastnst_version", "pairs_folder", "max_size", "device",
    "metric": {...}, "reference", "methods": [names, "photo" first], "rows": [{"pair",
    "method", "path", "width", "height", "seconds" (or None), "style_error",
    "masked_style_error" (None without masks), "structure", "regions": {name: error}}],
    "summary": {method: {"pairs", "style_error", "masked_style_error", "structure", "seconds"
    (means over the pairs scored; None where missing), "vs_reference": {"pairs",
    "masked_style_at_most", "structure_at_least"} or None}}}. "photo" is the content itself.
    """
    folder = Path(folder)
    pairs = find_pairs(folder)
    methods = find_methods(folder, outputs)
    results = {name: _by_key(path) for name, path in methods.items()}
    seconds = {name: read_seconds(path) for name, path in methods.items()}
    torch_device = resolve_device(device)
    metric = PhotorealMetric(torch_device)
    rows: list[dict[str, Any]] = []
    for pair in pairs:
        photo = open_image(pair.content, max_pixels)
        style_photo = open_image(pair.style, max_pixels)
        content = to_tensor(resize_long_side(photo, max_size)).unsqueeze(0)
        style = to_tensor(resize_long_side(style_photo, METRIC_STYLE_SIZE)).unsqueeze(0)
        size = (content.shape[-1], content.shape[-2])
        matched = load_masks(pair, photo.size, style_photo.size, (size[1], size[0]),
                             (style.shape[-2], style.shape[-1]), max_pixels)
        names, content_masks, style_masks = matched if matched is not None else ([], None, None)
        target = metric.style_target(style, style_masks)
        candidates = [(PHOTO, pair.content)] + [(name, results[name].get(pair.key))
                                                 for name in methods]
        for name, path in candidates:
            if path is None:
                continue
            output = content if name == PHOTO else _image_at(path, size, max_pixels)
            errors = metric(output, content, target, content_masks, names)[0]
            rows.append({"pair": pair.key, "method": name, "path": str(path),
                         "width": size[0], "height": size[1],
                         "seconds": seconds.get(name, {}).get(pair.key),
                         **errors.to_dict()})
    names_all = [PHOTO] + list(methods)
    return {
        "fastnst_version": __version__,
        "pairs_folder": str(folder),
        "max_size": max_size,
        "device": (torch.cuda.get_device_name(torch_device) if torch_device.type == "cuda"
                   else "cpu"),
        "metric": {"vgg_weights": METRIC_VGG_WEIGHTS, "pooling": METRIC_POOLING,
                   "style_layers": list(METRIC_STYLE_LAYERS), "style_size": METRIC_STYLE_SIZE,
                   "structure": f"SSIM of Sobel gradient magnitudes (window {SSIM_WINDOW}, "
                                f"sigma {SSIM_SIGMA}, K1 {SSIM_K1}, K2 {SSIM_K2}, "
                                f"range {SSIM_RANGE})"},
        "reference": reference if reference in methods else None,
        "methods": names_all,
        "rows": rows,
        "summary": {name: summarize(rows, name, reference if reference in methods else None)
                    for name in names_all},
    }


def _mean(values: Sequence[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present and len(present) == len(values) else None


def summarize(rows: Sequence[dict[str, Any]], method: str, reference: str | None
              ) -> dict[str, Any]:
    """Means of one method's rows, and on how many pairs it is at least as good as the
    reference: masked style error (global without masks) <= and structure >=."""
    mine = {row["pair"]: row for row in rows if row["method"] == method}
    summary: dict[str, Any] = {"pairs": len(mine)}
    for key in ("style_error", "masked_style_error", "structure", "seconds"):
        summary[key] = _mean([row[key] for row in mine.values()])
    summary["vs_reference"] = None
    if reference is not None and method != reference:
        theirs = {row["pair"]: row for row in rows if row["method"] == reference}
        shared = [key for key in mine if key in theirs]
        summary["vs_reference"] = {
            "pairs": len(shared),
            "masked_style_at_most": sum(_style(mine[k]) <= _style(theirs[k]) for k in shared),
            "structure_at_least": sum(mine[k]["structure"] >= theirs[k]["structure"]
                                      for k in shared),
        }
    return summary


def _style(row: dict[str, Any]) -> float:
    """The style error a comparison uses: masked where masks exist, else global."""
    value = row["masked_style_error"]
    return float(row["style_error"] if value is None else value)


def _number(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.{digits}f}"


def format_photoreal(report: dict[str, Any]) -> str:
    """The report as two Markdown tables: means per method, then every (pair, method)."""
    reference = report["reference"]
    lines = [f"{len({row['pair'] for row in report['rows']})} pairs from "
             f"{report['pairs_folder']} (content long side <= {report['max_size'] or 'any'} "
             f"px), on {report['device']}; style errors: lower is closer to the style; "
             "structure: 1 = the photo's edges kept", ""]
    versus = f" | vs {reference}: style / structure" if reference else ""
    lines += [f"| method | masked style error | style error | structure | seconds{versus} |",
              "|---|---|---|---|---" + ("|---|" if reference else "|")]
    for name in report["methods"]:
        row = report["summary"][name]
        cells = [name, _number(row["masked_style_error"], 3), _number(row["style_error"], 3),
                 _number(row["structure"], 3), _number(row["seconds"], 1)]
        if reference:
            wins = row["vs_reference"]
            cells.append("—" if wins is None else
                         f"{wins['masked_style_at_most']}/{wins['pairs']} as close, "
                         f"{wins['structure_at_least']}/{wins['pairs']} as sharp")
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| pair | method | masked style error | style error | structure | seconds |",
              "|---|---|---|---|---|---|"]
    for row in report["rows"]:
        lines.append(f"| {row['pair']} | {row['method']} | "
                     f"{_number(row['masked_style_error'], 3)} | "
                     f"{_number(row['style_error'], 3)} | {_number(row['structure'], 3)} | "
                     f"{_number(row['seconds'], 1)} |")
    return "\n".join(lines)
