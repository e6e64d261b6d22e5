"""The quality report of a training run: fastnst-eval's metric on held-out photos.

fastnst-train scores its transform net with it during and after training (the QualityReport
callback) and stores the result in the slim checkpoint's meta["eval"]; fastnst-info prints it.
The numbers are those of `fastnst-eval --content DATA --max-size SIZE` on the same model.
Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst.core.images import list_images, load_tensor
from fastnst.evaluation.evaluate import (
    BASELINE_INIT,
    BASELINE_OPTIMIZER,
    score_baseline,
    score_fast,
    size_batches,
    summarize_errors,
)
from fastnst.evaluation.metrics import METRIC_STYLE_SIZE, QualityMetric
from fastnst.losses.loss_config import LossConfig

# Same-sized photos per forward pass: fastnst-eval's --batch-size default.
BATCH_SIZE = 8


class HeldOutPhotos:
    """Held-out photos and the metric, loaded once; scores transform nets and the baseline.

    data: a folder (searched recursively) or file of photos; size: their long side after
    downscaling, px; style: the style image (resized to METRIC_STYLE_SIZE for the metric).
    """

    def __init__(self, data: str | Path, style: str | Path, size: int, max_pixels: int,
                 device: torch.device | str = "cpu") -> None:
        self.data = str(data)
        self.style = Path(style)
        self.size = size
        self.max_pixels = max_pixels
        self.photos = list_images([self.data])
        self.contents = [load_tensor(photo, max_pixels, size) for photo in self.photos]
        self.batches = size_batches([(c.shape[-2], c.shape[-1]) for c in self.contents],
                                    BATCH_SIZE)
        self.metric = QualityMetric(load_tensor(self.style, max_pixels, METRIC_STYLE_SIZE),
                                    device)

    def score(self, net: nn.Module) -> dict[str, Any]:
        """Mean errors of `net`'s outputs: {"style_error", "content_error",
        "style_error_per_layer", "seconds"} (dimensionless; seconds of stylizing).

        The net is copied first: a training net keeps its mode, device and gradients.
        """
        errors, seconds = score_fast(copy.deepcopy(net), self.contents, self.batches,
                                     self.metric)
        return summarize_errors(errors, seconds)

    def score_baseline(self, loss: LossConfig, iterations: int) -> dict[str, Any]:
        """Mean errors of the slow baseline (L-BFGS from the content, `iterations` loss
        evaluations, the loss settings `loss`), as `score` + {"iterations", "optimizer",
        "init"}."""
        style = load_tensor(self.style, self.max_pixels, loss.style_size)
        errors, seconds = score_baseline(loss, style, iterations, self.contents,
                                         self.batches, self.metric, progress=False)
        return {**summarize_errors(errors, seconds), "iterations": iterations,
                "optimizer": BASELINE_OPTIMIZER, "init": BASELINE_INIT}

    def block(self, fast: dict[str, Any], step: int,
              baseline: dict[str, Any] | None = None) -> dict[str, Any]:
        """The slim checkpoint's meta["eval"]: {"style_error", "content_error", "num_images",
        "size", "data", "step", "baseline": {"style_error", "content_error", "iterations",
        "optimizer", "init", "seconds"} or None}."""
        keep = ("style_error", "content_error", "iterations", "optimizer", "init", "seconds")
        return {"style_error": fast["style_error"], "content_error": fast["content_error"],
                "num_images": len(self.contents), "size": self.size, "data": self.data,
                "step": step,
                "baseline": None if baseline is None else {k: baseline[k] for k in keep}}


def format_quality(block: dict[str, Any]) -> str:
    """A short table of a meta["eval"] block: the model's errors, the baseline's, their ratio."""
    lines = [f"quality (fastnst-eval's metric) on {block['num_images']} held-out photos from "
             f"{block['data']}, long side {block['size']} px, at step {block['step']}:",
             f"  {'':24}{'style error':>12}{'content error':>15}",
             f"  {'fast (this model)':24}{block['style_error']:12.4g}"
             f"{block['content_error']:15.4g}"]
    baseline = block.get("baseline")
    if baseline:
        lines.append(f"  {'baseline (' + str(baseline['iterations']) + ' L-BFGS)':24}"
                     f"{baseline['style_error']:12.4g}{baseline['content_error']:15.4g}")
        lines.append(f"  {'fast / baseline':24}"
                     f"{block['style_error'] / baseline['style_error']:12.3f}"
                     f"{block['content_error'] / baseline['content_error']:15.3f}")
    return "\n".join(lines)
