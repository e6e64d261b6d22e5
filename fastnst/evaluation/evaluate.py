"""`fastnst-eval`: a style model's quality over a folder of photos, optionally next to the slow
Gatys baseline (its flicker on a clip: fastnst.evaluation.video). The metric is
fastnst.evaluation.metrics; the report's JSON layout is the docstring of `evaluate`. Images are
float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst import __version__
from fastnst.core.devices import resolve_device, synchronize
from fastnst.core.errors import FastNSTError
from fastnst.core.files import atomic_output
from fastnst.core.images import list_images, load_tensor
from fastnst.core.settings import config_to_dict, load_config
from fastnst.evaluation.eval_config import EvalConfig
from fastnst.evaluation.metrics import (
    METRIC_LOSS_NET,
    METRIC_POOLING,
    METRIC_STYLE_LAYERS,
    METRIC_STYLE_SIZE,
    METRIC_VGG_WEIGHTS,
    ImageErrors,
    QualityMetric,
    metric_settings,
)
from fastnst.inference.stylizer import Stylizer
from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.loss_config import LossConfig
from fastnst.models.checkpoint import (
    load_model,
    recorded_style,
    require_one_style,
    resolve_spec,
)

# The slow baseline's settings: those of fastnst-slow (fastnst.slow.slow_config.SlowConfig).
BASELINE_OPTIMIZER = "lbfgs"
BASELINE_INIT = "content"


def size_batches(sizes: Sequence[tuple[int, int]], batch_size: int) -> list[list[int]]:
    """Indices of same-sized images in batches of at most batch_size, sizes in first-seen order.

    Each size group is split into near-equal batches (130 images at batch_size 100: 65 + 65).
    """
    groups: dict[tuple[int, int], list[int]] = {}
    for index, size in enumerate(sizes):
        groups.setdefault(size, []).append(index)
    batches = []
    for indices in groups.values():
        count = -(-len(indices) // batch_size)  # ceil
        bounds = [round(k * len(indices) / count) for k in range(count + 1)]
        batches += [indices[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
    return batches


def training_loss_config(meta: dict[str, Any]) -> tuple[LossConfig, str]:
    """The loss settings a model was trained with, and their source ('checkpoint' or 'defaults').

    Read from a slim checkpoint's meta["config"]; settings it lacks take LossConfig's defaults.
    """
    saved = meta.get("config")
    if not isinstance(saved, dict):
        return LossConfig(), "defaults"
    names = {field.name for field in dataclasses.fields(LossConfig)} - {"max_pixels"}
    return load_config(LossConfig, (), {k: v for k, v in saved.items() if k in names}), "checkpoint"


def find_style(style: str | None, meta: dict[str, Any], model: Path) -> Path:
    """The style image a model is scored against: `style` when given, else the one the model
    records (fastnst.models.checkpoint.recorded_style); an error naming --style when neither."""
    if style is not None:
        return Path(style)
    found = recorded_style(meta)
    if found is None:
        raise FastNSTError(f"{model}: the style image it was trained on is not found here; "
                           "pass --style IMAGE")
    return found


def summarize_errors(errors: Sequence[ImageErrors], seconds: float) -> dict[str, Any]:
    """Mean errors over the images (overall and per style layer), and `seconds` rounded."""
    count = len(errors)
    return {
        "style_error": sum(e.style for e in errors) / count,
        "content_error": sum(e.content for e in errors) / count,
        "style_error_per_layer": {layer: sum(e.style_per_layer[layer] for e in errors) / count
                                  for layer in METRIC_STYLE_LAYERS},
        "seconds": round(seconds, 3),
    }


def score_fast(net: nn.Module, contents: Sequence[torch.Tensor],
               batches: Sequence[Sequence[int]], metric: QualityMetric
               ) -> tuple[list[ImageErrors], float]:
    """Errors of the transform net's outputs per image, and the seconds spent stylizing."""
    stylizer = Stylizer(net, device=str(metric.device))
    errors: dict[int, ImageErrors] = {}
    seconds = 0.0
    for indices in batches:
        batch = torch.cat([contents[i] for i in indices])  # (B, 3, H, W)
        started = time.perf_counter()
        outputs = stylizer.stylize_tensor(batch)  # returned on the CPU: the GPU is done
        seconds += time.perf_counter() - started
        errors.update(zip(indices, metric(outputs, batch), strict=True))
    return [errors[i] for i in range(len(contents))], seconds


def score_baseline(loss_config: LossConfig, style: torch.Tensor, iterations: int,
                   contents: Sequence[torch.Tensor], batches: Sequence[Sequence[int]],
                   metric: QualityMetric, progress: bool
                   ) -> tuple[list[ImageErrors], float]:
    """Errors of the slow baseline's outputs per image, and the seconds spent optimizing.

    style: (1, 3, H, W) in [0, 1], at loss_config.style_size. Each batch is optimized jointly
    (see fastnst.slow.gatys.stylize_slow); the metric's VGG is reused when the loss asks for
    the same network, weights and pooling.
    """
    # Imported here: training imports this module for its quality report, and needs the slow
    # baseline only with --eval-baseline-iters.
    from fastnst.slow.gatys import stylize_slow

    device = metric.device
    same_network = ((loss_config.loss_net, loss_config.vgg_weights, loss_config.pooling)
                    == (METRIC_LOSS_NET, METRIC_VGG_WEIGHTS, METRIC_POOLING))
    loss_fn = build_perceptual_loss(loss_config, style, device,
                                    metric.vgg if same_network else None)
    errors: dict[int, ImageErrors] = {}
    seconds = 0.0
    for indices in batches:
        batch = torch.cat([contents[i] for i in indices]).to(device)  # (B, 3, H, W)
        started = time.perf_counter()
        images, _ = stylize_slow(batch, loss_fn, BASELINE_OPTIMIZER, BASELINE_INIT, iterations,
                                 progress=progress)
        synchronize(device)
        seconds += time.perf_counter() - started
        errors.update(zip(indices, metric(images, batch), strict=True))
    return [errors[i] for i in range(len(contents))], seconds


def evaluate(config: EvalConfig, progress: bool = True) -> dict[str, Any]:
    """Score the model on every photo under config.content; with baseline_iters, the baseline too.

    Returns the report, plain data for JSON: {"fastnst_version", "model", "model_style",
    "style", "content", "num_images", "max_size", "batch_size", "device",
    "metric": {"vgg_weights", "pooling", "style_layers", "content_layer", "style_size"},
    "fast": SUMMARY, "baseline": SUMMARY + {"iterations", "optimizer", "init", "loss",
    "loss_source"} or None, "fast_over_baseline": {"style_error", "content_error"} or None,
    "images": [{"path", "width", "height", "fast": ERRORS, "baseline": ERRORS or None}]},
    where SUMMARY = means of ERRORS over the images + "seconds" (wall time of stylizing all
    images, s, the first batch's warm-up included), ERRORS = {"style_error", "content_error",
    "style_error_per_layer": {layer: error}}, and fast_over_baseline divides the fast means by
    the baseline's.
    """
    device = resolve_device(config.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # a few image sizes, hundreds of passes each
    photos = list_images([config.content])
    model = resolve_spec(config.model)
    net, meta = load_model(model)
    require_one_style(net, config.model)
    style_path = find_style(config.style, meta, model.path)
    contents = [load_tensor(photo, config.max_pixels, config.max_size) for photo in photos]
    batches = size_batches([(c.shape[-2], c.shape[-1]) for c in contents], config.batch_size)
    metric = QualityMetric(load_tensor(style_path, config.max_pixels, METRIC_STYLE_SIZE), device)

    fast, fast_seconds = score_fast(net, contents, batches, metric)
    summary = summarize_errors(fast, fast_seconds)
    slow: list[ImageErrors | None] = [None] * len(contents)
    baseline: dict[str, Any] | None = None
    ratio: dict[str, float] | None = None
    if config.baseline_iters:
        loss_config, loss_source = training_loss_config(meta)
        style = load_tensor(style_path, config.max_pixels, loss_config.style_size)
        slow_errors, slow_seconds = score_baseline(loss_config, style, config.baseline_iters,
                                                   contents, batches, metric, progress)
        slow = list(slow_errors)
        baseline = {**summarize_errors(slow_errors, slow_seconds),
                    "iterations": config.baseline_iters,
                    "optimizer": BASELINE_OPTIMIZER, "init": BASELINE_INIT,
                    "loss": config_to_dict(loss_config), "loss_source": loss_source}
        ratio = {key: summary[key] / baseline[key] for key in ("style_error", "content_error")}

    return {
        "fastnst_version": __version__,
        "model": str(model.path),
        "model_style": meta.get("style"),
        "style": str(style_path),
        "content": config.content,
        "num_images": len(contents),
        "max_size": config.max_size,
        "batch_size": config.batch_size,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "metric": metric_settings(),
        "fast": summary,
        "baseline": baseline,
        "fast_over_baseline": ratio,
        "images": [
            {"path": str(photo), "width": content.shape[-1], "height": content.shape[-2],
             "fast": fast_errors.to_dict(),
             "baseline": None if slow_errors is None else slow_errors.to_dict()}
            for photo, content, fast_errors, slow_errors in zip(photos, contents, fast, slow,
                                                                strict=True)
        ],
    }


def format_summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal: mean errors and seconds, fast vs baseline."""
    lines = [
        f"{report['num_images']} images from {report['content']} (long side <= "
        f"{report['max_size'] or 'any'} px), style {report['style']}, on {report['device']}",
        f"{'':24}{'style error':>12}{'content error':>15}{'seconds':>10}",
    ]
    rows = [("fast", report["fast"])]
    if report["baseline"] is not None:
        rows.append((f"baseline ({report['baseline']['iterations']} L-BFGS)", report["baseline"]))
    for name, row in rows:
        lines.append(f"{name:24}{row['style_error']:12.4g}{row['content_error']:15.4g}"
                     f"{row['seconds']:10.1f}")
    ratio = report["fast_over_baseline"]
    if ratio is not None:
        lines.append(f"{'fast / baseline':24}{ratio['style_error']:12.3f}"
                     f"{ratio['content_error']:15.3f}")
    return "\n".join(lines)


def write_report(report: dict[str, Any], path: Path) -> None:
    """Write the report as indented JSON, atomically (temp file + rename)."""
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
