"""Settings of `fastnst-bench`. Sizes are (width, height) in px."""

from __future__ import annotations

from dataclasses import dataclass

from fastnst.core.assets import PHOTOS_DIR, STYLES_DIR
from fastnst.core.config import option
from fastnst.core.errors import FastNSTError
from fastnst.core.options import device_option

TASKS = ("inference", "train")


def parse_sizes(text: str) -> tuple[tuple[int, int], ...]:
    """'512x512,1920x1080' -> ((512, 512), (1920, 1080)), each (width, height) in px."""
    return tuple((int(w), int(h)) for w, h in (part.lower().split("x")
                                              for part in text.split(",") if part))


@dataclass(frozen=True)
class BenchOptions:
    """What `fastnst-bench` measures."""

    output: str = option("bench.json", "the report", flags=("-o", "--output"), metavar="JSON")
    device: str = device_option()
    tasks: tuple[str, ...] = option(TASKS, "what to measure", metavar="T1,T2")
    sizes: tuple[tuple[int, int], ...] | None = option(
        None, "inference sizes (default 512x512,1920x1080,3840x2160 on CUDA; 512x512,"
        "1024x1024 on the CPU)", metavar="WxH,...", parse=parse_sizes)
    widths: tuple[float, ...] = option((1.0, 0.5), "transform-net width multipliers for "
                                       "inference", metavar="W1,W2")
    train_width: float = option(1.0, "transform-net width for training", metavar="W")
    iters: int | None = option(None, "timed calls / training steps (default 20 on CUDA, 3 on "
                               "the CPU)", metavar="N")
    warmup: int | None = option(None, "untimed calls / steps first (default 5 on CUDA, 1 on "
                                "the CPU)", metavar="N")
    compile: bool = option(False, "also measure the optimized paths under torch.compile "
                           "(compiles once per net and size: minutes)")
    compile_mode: str | None = option(None, "torch.compile mode, e.g. max-autotune (default: "
                                      "its default)", metavar="MODE")
    channels_last: bool | None = option(None, "layout of the optimized paths (default: "
                                        "channels_last on CUDA, NCHW on the CPU)",
                                        negatable=True)
    batch_megapixels: float | None = option(
        None, "optimized inference batch: about MP megapixels of frames (default 16 on CUDA; "
        "0 on the CPU: one frame)", flags=("--batch-mp",), metavar="MP")
    train_size: int = option(256, "training crop", metavar="PX")
    train_batch: int | None = option(None, "optimized training batch (default 64 on CUDA, 8 "
                                     "on the CPU)", metavar="N")
    baseline_batch: int = option(4, "baseline training batch (Johnson et al. 2016)",
                                 metavar="N")
    workers: int | None = option(None, "data-loader processes for training (default 4, at "
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
        if (self.iters is not None and self.iters < 1) or (self.warmup is not None
                                                           and self.warmup < 0):
            raise FastNSTError("--iters must be >= 1 and --warmup >= 0")
        if self.compile and self.warmup == 0:
            raise FastNSTError("--compile needs --warmup >= 1 (the first call compiles)")
        if any(w <= 0 for w in (*self.widths, self.train_width)):
            raise FastNSTError("--widths must be > 0")
        if self.sizes is not None and any(min(size) < 1 for size in self.sizes):
            raise FastNSTError("--sizes must be WxH with positive W and H")
        if self.train_size < 16 or self.baseline_batch < 1 or (self.train_batch or 1) < 1:
            raise FastNSTError("--train-size must be >= 16 px and batch sizes >= 1")
