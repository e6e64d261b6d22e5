"""Quality against training cost: the curves of issue 17 (a style in minutes).

Each run is an ordinary `fastnst-train` run with `--eval-every N` on held-out photos, so its
TensorBoard log holds eval/style and eval/content (fastnst-eval's fixed metric) at every N
steps. This script plots them against the images seen and against minutes on the 2-core
reference machine, one line per run:

    python scripts/quality_curve.py plot runs/A runs/B ... -o quality_curve.png

Minutes are computed, not read from the clock, so runs made on a busy machine compare fairly:
each run's training FLOPs per image (counted once with torch's FlopCounterMode on one training
step at its crop sizes, width and trainable weights) times its images seen, at the rate
measured for the default recipe on the reference machine (1.83 s per 256 px image on 2 cores,
`fastnst-bench --device cpu --tasks train`; `--seconds-per-image` to change it).

    python scripts/quality_curve.py cost runs/base256 ...     # the per-image costs only

The runs themselves: see the "A style in minutes" section of the README for the exact
commands (each variant is a set of fastnst-train flags).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
import yaml
from torch.utils.flop_counter import FlopCounterMode

REFERENCE_SECONDS_PER_IMAGE = 1.83  # default recipe, 256 px, width 1, 2 AMD EPYC cores


def run_config(run: Path) -> dict[str, Any]:
    """The resolved fastnst-train config a run saved (runs/NAME/config.yaml)."""
    return yaml.safe_load((run / "config.yaml").read_text())


def eval_points(run: Path) -> list[tuple[int, float, float]]:
    """(step, eval/style, eval/content) of a run, over all its event files, by step."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    points: dict[int, list[float]] = {}
    for events_file in sorted(run.glob("events.out.tfevents.*")):
        events = EventAccumulator(str(events_file), size_guidance={"scalars": 0})
        events.Reload()
        tags = events.Tags()["scalars"]
        if "eval/style" not in tags:
            continue
        contents = {e.step: e.value for e in events.Scalars("eval/content")}
        for event in events.Scalars("eval/style"):
            points[event.step] = [event.value, contents[event.step]]
    return [(step, *values) for step, values in sorted(points.items())]  # type: ignore[misc]


def flops_per_image(config: dict[str, Any], crop: int) -> float:
    """Training FLOPs per image of one step at `crop` px: the transform net forward and
    backward (only the trainable weights get gradients), the loss network on the output and
    on the photo, as fastnst.training.module runs them; batch 1, float32."""
    from fastnst.core.settings import load_config
    from fastnst.losses.builder import build_perceptual_loss
    from fastnst.training.train_config import TrainConfig
    from fastnst.training.warmstart import build_transformer

    settings = {**config, "resume": False}
    train_config = load_config(TrainConfig, [], settings)
    net, rows, _ = build_transformer(train_config)
    loss = build_perceptual_loss(train_config, train_config.style[0])
    images = torch.rand(1, 3, crop, crop)
    style = (torch.nn.functional.one_hot(torch.tensor([rows[0]]), len(net.styles)).float()
             if rows else None)
    with FlopCounterMode(display=False) as counter:
        targets = loss.content_targets(images)
        output = net(images, style=style) if style is not None else net(images)
        loss(output, targets).total.backward()
    return float(counter.get_total_flops())


def image_costs(run: Path) -> dict[int, float]:
    """{crop px: seconds per image on the reference machine} of a run's crop sizes."""
    config = run_config(run)
    crops = {int(config["image_size"])}
    if config.get("small_crop"):
        crops.add(int(config["small_crop"]))
    return {crop: flops_per_image(config, crop) for crop in sorted(crops)}


def curve(run: Path, seconds_per_flop: float) -> list[dict[str, float]]:
    """The run's eval points with images seen and reference-machine minutes."""
    config = run_config(run)
    batch = int(config["batch_size"])
    small, small_steps = int(config.get("small_crop") or 0), int(config.get("small_crop_steps")
                                                                 or 0)
    flops = image_costs(run)
    full = flops[int(config["image_size"])]
    rows = []
    for step, style, content in eval_points(run):
        at_small = min(step, small_steps) if small else 0
        seconds = batch * seconds_per_flop * (at_small * flops.get(small, full)
                                              + (step - at_small) * full)
        rows.append({"step": step, "images": step * batch, "minutes": seconds / 60,
                     "style_error": style, "content_error": content})
    return rows


def reference_rate(seconds_per_image: float) -> float:
    """Seconds per FLOP of the reference machine: the default recipe's measured seconds per
    image over its counted FLOPs per image."""
    from fastnst.core.assets import PHOTOS_DIR, STYLES_DIR

    default = {"style": [str(STYLES_DIR / "starry_night.jpg")], "data": str(PHOTOS_DIR)}
    return seconds_per_image / flops_per_image(default, 256)


def plot(curves: dict[str, list[dict[str, float]]], output: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, rows in curves.items():
        minutes = [row["minutes"] for row in rows]
        axes[0].plot(minutes, [row["style_error"] for row in rows], marker="o", label=name)
        axes[1].plot(minutes, [row["content_error"] for row in rows], marker="o", label=name)
    for ax, label in zip(axes, ("style error", "content error"), strict=True):
        ax.set_xlabel("training minutes on 2 CPU cores (from FLOPs)")
        ax.set_ylabel(f"{label} (lower is better)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("plot", "cost"))
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (runs/NAME)")
    parser.add_argument("-o", "--output", type=Path, default=Path("quality_curve.png"))
    parser.add_argument("--json", type=Path, help="also write the points as JSON")
    parser.add_argument("--title", default="Quality against training cost")
    parser.add_argument("--seconds-per-image", type=float, default=REFERENCE_SECONDS_PER_IMAGE)
    args = parser.parse_args(argv)
    rate = reference_rate(args.seconds_per_image)
    if args.action == "cost":
        for run in args.runs:
            costs = {crop: round(flops * rate, 3) for crop, flops in image_costs(run).items()}
            print(f"{run.name}: seconds per image by crop {costs}")
        return 0
    curves = {run.name: curve(run, rate) for run in args.runs}
    for name, rows in curves.items():
        for row in rows:
            print(f"{name:20} step {row['step']:6d} images {row['images']:7d} "
                  f"{row['minutes']:7.1f} min  style {row['style_error']:.4f}  "
                  f"content {row['content_error']:.4f}")
    plot(curves, args.output, args.title)
    if args.json:
        args.json.write_text(json.dumps(curves, indent=1))
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
