"""Settings of `fastnst-bench`. Sizes are (width, height) in px."""

from __future__ import annotations

from typing import Annotated, Any

from annotated_types import Ge
from pydantic import BeforeValidator

from fastnst.core.assets import PHOTOS_DIR, STYLES_DIR
from fastnst.core.errors import FastNSTError
from fastnst.core.fields import Count, Positive, Side, device_option
from fastnst.core.settings import Commas, OrNone, option, settings

TASKS = ("inference", "train")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'512x512,1920x1080' -> ((512, 512), (1920, 1080)), each (width, height) in px."""
    return tuple((int(w), int(h)) for w, h in (part.lower().split("x")
                                              for part in text.split(",") if part))


def _sizes(value: Any) -> Any:
    """--sizes as typed ('512x512,1920x1080', or the flag's items) -> (width, height) pairs;
    YAML lists of pairs pass through."""
    if isinstance(value, str):
        return parse_sizes(value)
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
        return parse_sizes(",".join(value))
    return value


Sizes = Annotated[tuple[tuple[Annotated[int, Ge(1)], Annotated[int, Ge(1)]], ...],
                  BeforeValidator(_sizes)]


@settings
class BenchConfig:
    """What `fastnst-bench` measures."""

    output: str = option("bench.json", "the report", flags=("-o", "--output"), metavar="JSON")
    device: str = device_option()
    tasks: Commas[str] = option(TASKS, "what to measure", metavar="T1,T2")
    sizes: OrNone[Sizes] = option(
        None, "inference sizes (default 512x512,1920x1080,3840x2160 on CUDA; 512x512,"
        "1024x1024 on the CPU)", metavar="WxH,...")
    widths: Commas[float] = option((1.0, 0.5), "transform-net width multipliers for "
                                       "inference", metavar="W1,W2")
    train_width: float = option(1.0, "transform-net width for training", metavar="W")
    iters: OrNone[Positive] = option(None, "timed calls / training steps (default 20 on CUDA, 3 on "
                               "the CPU)", metavar="N")
    warmup: OrNone[Count] = option(None, "untimed calls / steps first (default 5 on CUDA, 1 on "
                                "the CPU)", metavar="N")
    compile: bool = option(False, "also measure the optimized paths under torch.compile "
                           "(compiles once per net and size: minutes)")
    compile_mode: OrNone[str] = option(None, "torch.compile mode, e.g. max-autotune (default: "
                                      "its default)", metavar="MODE")
    channels_last: OrNone[bool] = option(None, "layout of the optimized paths (default: "
                                        "channels_last on CUDA, NCHW on the CPU)",
                                        negatable=True)
    batch_megapixels: OrNone[float] = option(
        None, "optimized inference batch: about MP megapixels of frames (default 16 on CUDA; "
        "0 on the CPU: one frame)", flags=("--batch-mp",), metavar="MP")
    train_size: Side = option(256, "training crop", metavar="PX")
    train_batch: OrNone[Positive] = option(None, "optimized training batch (default 64 on CUDA, 8 "
                                     "on the CPU)", metavar="N")
    baseline_batch: Positive = option(4, "baseline training batch (Johnson et al. 2016)",
                                 metavar="N")
    workers: OrNone[Count] = option(None, "data-loader processes for training (default 4, at "
                                 "most the CPU count)", metavar="N")
    photos: str = option(str(PHOTOS_DIR), "training photos (default: the 8 bundled COCO "
                         "photos)", metavar="DIR", show_default=False)
    style: str = option(str(STYLES_DIR / "starry_night.jpg"), "style image (default: the "
                        "bundled starry_night)", metavar="IMAGE", show_default=False)
    vgg_weights: str = option("caffe", "loss-network weights, as fastnst-train --vgg-weights",
                              metavar="SOURCE")
    command: str = option("", "the command line, recorded in the JSON", cli=False)

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - set(TASKS)
        if unknown or not self.tasks:
            raise FastNSTError("--tasks takes inference and/or train")
        if self.compile and self.warmup == 0:
            raise FastNSTError("--compile needs --warmup >= 1 (the first call compiles)")
        if any(w <= 0 for w in (*self.widths, self.train_width)):
            raise FastNSTError("--widths must be > 0")

