"""`fastnst-info`: how a style model was trained and how good it is (its quality report)."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from typing import Any

from fastnst.cli.common import Command
from fastnst.evaluation.eval_config import InfoConfig

COMMAND = Command("fastnst-info", InfoConfig, "Print what a model file records: architecture, "
                  "style, training steps and time, the key recipe values, and the quality "
                  "report fastnst-train scored on held-out photos (style and content error, "
                  "fastnst-eval's metric, next to the slow baseline when it was run).")

# The recipe values worth a glance, in this order (TrainConfig / LossConfig field names).
RECIPE_KEYS = ("image_size", "batch_size", "lr", "max_steps", "warmup_steps", "width",
               "strength_conditioned", "trainable", "small_crop", "small_crop_steps",
               "loss_net", "vgg_weights", "content_layers",
               "style_layers", "content_weight", "style_weight", "tv_weight", "style_size",
               "precision", "seed")
NO_REPORT_SLIM = "no quality report in this file (trained before fastnst 0.2): run fastnst-eval"
NO_REPORT_LIGHTNING = ("no quality report in this file (a Lightning checkpoint: the slim model "
                       "written at the end of training has it): run fastnst-eval")


def _value(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value))
    return str(value)


def _count(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) else "-"


def describe(path: str, arch: dict[str, Any], parameters: int, meta: dict[str, Any]) -> str:
    """The text fastnst-info prints for a model's arch, parameter count and metadata."""
    from fastnst.evaluation.quality import format_quality

    slim = "fastnst_version" in meta
    kind = (f"slim model, fastnst {meta['fastnst_version']}, "
            f"{meta.get('weights_dtype', 'float32')} weights" if slim else "Lightning checkpoint")
    details = ", ".join(f"{key} {value}" for key, value in arch.items() if key != "name")
    seconds = meta.get("train_seconds")
    styles = meta.get("styles") if arch.get("styles") else None
    style_line = (f"styles: {', '.join(arch['styles'])} (pick one with {path}:STYLE)"
                  if styles is not None else
                  f"style: {meta.get('style') or '-'} (sha256 {meta.get('style_sha256') or '-'})")
    lines = [
        f"model: {path} ({kind})",
        f"architecture: {arch.get('name', 'johnson')} ({details}), {parameters:,} parameters",
        style_line,
        f"training: {_count(meta.get('steps'))} steps, {_count(meta.get('images_seen'))} images "
        f"seen, " + (f"{seconds:.1f} s" if isinstance(seconds, (int, float)) else "time -"),
    ]
    config = meta.get("config")
    if isinstance(config, dict):
        lines.append("recipe: " + ", ".join(f"{key} {_value(config[key])}"
                                            for key in RECIPE_KEYS if key in config))
    if meta.get("init"):
        lines.append(f"started from: {meta['init']}")
    if meta.get("data"):
        lines.append(f"training data: {meta['data']}")
    report = meta.get("eval")
    if styles is not None:
        for name in arch["styles"]:
            own = styles.get(name, {}).get("eval")
            lines.append(f"{name}: " + (format_quality(own) if own else "no quality report"))
    elif report:
        lines.append(format_quality(report))
    else:
        lines.append(NO_REPORT_SLIM if slim else NO_REPORT_LIGHTNING)
    return "\n".join(lines)


def info(config: InfoConfig) -> int:
    from fastnst.models.checkpoint import load_model, resolve_spec

    model = resolve_spec(config.model)
    path = model.path
    net, meta = load_model(model)
    arch = dict(net.arch)  # type: ignore[arg-type]
    parameters = sum(p.numel() for p in net.parameters())
    if config.json:
        print(json.dumps({"model": str(path), "arch": arch, "parameters": parameters,
                          "meta": meta}, indent=2, default=str))
    else:
        print(describe(str(path), arch, parameters, meta))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, info)


if __name__ == "__main__":
    sys.exit(main())
