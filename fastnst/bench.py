"""`fastnst-bench`: the baseline and the optimized path, measured in one run on one machine.

Inference: ms per frame of the transform net on frames already on the device (decoding,
host<->device copies and encoding excluded). Baseline: fp32, eager, NCHW, batch 1.
Optimized: the `Stylizer` fast path (on GPUs bf16 autocast, channels_last, several frames
per batch, optionally torch.compile); on CPUs, where that path is the fp32 NCHW baseline
(bf16 and channels_last measured slower there), the exported ONNX model in onnxruntime.

Training: full steps through Lightning's `Trainer.fit` with `StyleTransferModule`, as
`fastnst-train` runs them (transform net forward, content targets, VGG loss, backward,
Adam step, logging), progress bar and checkpoints off. Baseline: fp32, eager, NCHW, batch 4,
photos decoded and resized with PIL in data-loader workers. Optimized: bf16-mixed on GPUs,
channels_last (CUDA), fused Adam, a uint8 photo cache cropped and flipped on the device, a large
batch, optionally torch.compile.

Results go to a JSON file (written atomically) and a table on stdout; see `run_bench`.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

from fastnst import __version__
from fastnst.errors import FastNSTError
from fastnst.flops import (
    FLOP_COUNTING,
    device_peak,
    peak_for,
    train_flops_per_image,
    transformer_flops,
)
from fastnst.image import atomic_output
from fastnst.transformer import TransformerNet

ASSETS = Path(__file__).parent / "assets"
COCO_TRAIN2014_IMAGES = 82_783
TIMING = (
    "Wall clock over `iters` calls after `warmup` calls (compilation and cuDNN autotuning "
    "happen there), with torch.cuda.synchronize() at both ends on CUDA. peak_mem_mb: CUDA "
    "torch.cuda.max_memory_allocated over the timed calls (weights and inputs included); "
    "CPU: growth of the resident set size over the measurement, sampled every ms "
    "(approximate: the allocator keeps freed memory)."
)


@dataclass(frozen=True)
class BenchOptions:
    """What `fastnst-bench` measures. Sizes are (width, height) in px."""

    device: str = "auto"  # 'auto', 'cpu', 'cuda' or 'cuda:N'
    tasks: tuple[str, ...] = ("inference", "train")
    sizes: tuple[tuple[int, int], ...] | None = None  # None: per device, see default_sizes
    widths: tuple[float, ...] = (1.0, 0.5)  # transform-net channel multipliers (inference)
    train_width: float = 1.0
    iters: int | None = None  # timed calls/steps; None: 20 on CUDA, 3 on the CPU
    warmup: int | None = None  # untimed calls/steps first; None: 5 on CUDA, 1 on the CPU
    compile: bool = False  # also measure the optimized paths under torch.compile
    compile_mode: str | None = None  # torch.compile mode (None: its default)
    channels_last: bool | None = None  # optimized layout; None: channels_last on CUDA only
    batch_megapixels: float | None = None  # optimized inference batch; None: 16 CUDA, 0 CPU
    train_size: int = 256  # training crop, px
    train_batch: int | None = None  # optimized training batch; None: 64 on CUDA, 8 on the CPU
    baseline_batch: int = 4  # Johnson et al. 2016 and the PyTorch examples
    workers: int | None = None  # data-loader processes, both training variants; None: <= 4
    photos: str = str(ASSETS / "photos")  # training photos (JPEGs decoded by the baseline)
    style: str = str(ASSETS / "styles" / "starry_night.jpg")
    vgg_weights: str = "caffe"  # as fastnst-train --vgg-weights
    output: str = "bench.json"
    command: str = ""  # recorded in the JSON

    def __post_init__(self) -> None:
        unknown = set(self.tasks) - {"inference", "train"}
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


def default_sizes(device: torch.device) -> tuple[tuple[int, int], ...]:
    """Inference sizes (width, height): up to 4K on GPUs, up to 1024x1024 on CPUs."""
    if device.type == "cuda":
        return ((512, 512), (1920, 1080), (3840, 2160))
    return ((512, 512), (1024, 1024))


# ------------------------------------------------------------------------------ timing


class PeakMemory:
    """Context manager measuring peak memory in MB (see TIMING) on `device`; read `.mb`."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.mb: float | None = None
        self._stop = threading.Event()
        self._start = self._peak = 0  # resident bytes
        self._thread: threading.Thread | None = None

    @staticmethod
    def _rss() -> int:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")  # resident pages

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            self._peak = max(self._peak, self._rss())

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        elif Path("/proc/self/statm").is_file():
            self._start = self._peak = self._rss()
            self._thread = threading.Thread(target=self._sample, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.mb = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self._thread is not None:
            self._stop.set()
            self._thread.join()
            self.mb = max(self._peak, self._rss()) / 2**20 - self._start / 2**20


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@dataclass
class Measurement:
    """One row of bench.json's `results`."""

    task: str  # 'inference' or 'train'
    device: str
    height: int
    width_px: int
    net_width: float
    variant: str  # 'baseline' or 'optimized'
    backend: str  # 'eager', 'inductor' (torch.compile) or 'onnxruntime'
    precision: str  # 'fp32', 'bf16' or 'fp16' (autocast / Lightning mixed precision)
    memory_format: str  # 'nchw' or 'channels_last'
    batch: int
    ms_per_item: float
    items_per_s: float
    peak_mem_mb: float | None
    flops_per_item: int
    tflops: float  # achieved
    peak_tflops: float | None
    peak_share: float | None  # tflops / peak_tflops
    iters: int
    warmup: int
    speedup: float | None = None  # optimized only: baseline ms_per_item / this ms_per_item
    extra: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        row = asdict(self)
        extra = row.pop("extra")
        if self.variant == "baseline":
            del row["speedup"]
        return {**row, **extra}


def _measurement(task: str, device_name: str, size: tuple[int, int], net_width: float,
                 variant: str, backend: str, precision: str, channels_last: bool, batch: int,
                 seconds: float, items: int, peak_mb: float | None, flops_per_item: int,
                 peak_tflops: float | None, iters: int, warmup: int,
                 extra: dict[str, Any]) -> Measurement:
    items_per_s = items / seconds
    tflops = flops_per_item * items_per_s / 1e12
    return Measurement(
        task=task, device=device_name, height=size[1], width_px=size[0], net_width=net_width,
        variant=variant, backend=backend, precision=precision,
        memory_format="channels_last" if channels_last else "nchw", batch=batch,
        ms_per_item=round(1000 * seconds / items, 4), items_per_s=round(items_per_s, 3),
        peak_mem_mb=None if peak_mb is None else round(peak_mb, 1),
        flops_per_item=flops_per_item, tflops=round(tflops, 4),
        peak_tflops=peak_tflops,
        peak_share=None if not peak_tflops else round(tflops / peak_tflops, 4),
        iters=iters, warmup=warmup, extra=extra)


# --------------------------------------------------------------------------- inference


# Our precision names -> fastnst-stylize's and fastnst-train's.
_STYLIZE_PRECISION = {"fp32": "32", "bf16": "bf16", "fp16": "16"}
_TRAIN_PRECISION = {"fp32": "32", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def _optimized_precision(device: torch.device) -> str:
    if device.type != "cuda":
        return "fp32"  # CPU bf16 autocast is slower than fp32 without AMX/AVX512-BF16 units
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16"


def _optimized_channels_last(options: BenchOptions, device: torch.device) -> bool:
    """The optimized layout: as asked, else channels_last on CUDA only, as fastnst-stylize and
    fastnst-train do (on 2 CPU cores eager channels_last measured 5-20% slower than NCHW)."""
    return device.type == "cuda" if options.channels_last is None else options.channels_last


def _workers(options: BenchOptions) -> int:
    return options.workers if options.workers is not None else min(4, os.cpu_count() or 1)


def _inference_batch(size: tuple[int, int], megapixels: float) -> int:
    """Frames per optimized batch: about `megapixels` MP per batch, 1 to 64 frames."""
    return max(1, min(64, round(megapixels * 1e6 / (size[0] * size[1]))))


def _time_inference(forward: Callable[[torch.Tensor], Any], size: tuple[int, int],
                    batch: int, memory_format: torch.memory_format, iters: int, warmup: int,
                    device: torch.device) -> tuple[float, float | None]:
    """Seconds for `iters` calls of forward(frames) after `warmup` calls, and peak MB.

    frames: (batch, 3, H, W) uniform noise in [0, 1] on `device`, size = (W, H).
    """
    with torch.inference_mode():
        memory = PeakMemory(device)
        with memory:
            frames = torch.rand(batch, 3, size[1], size[0], device=device
                                ).contiguous(memory_format=memory_format)
            for _ in range(warmup):
                forward(frames)
            _synchronize(device)
            started = time.perf_counter()
            for _ in range(iters):
                forward(frames)
            _synchronize(device)
            seconds = time.perf_counter() - started
    return seconds, memory.mb


@dataclass(frozen=True)
class _InferenceVariant:
    """One way of running a net: forward((N, 3, H, W) frames on the device) -> output."""

    variant: str
    backend: str
    precision: str
    channels_last: bool
    forward: Callable[[torch.Tensor], Any]


def _inference_variants(net: TransformerNet, device: torch.device, options: BenchOptions,
                        log: Callable[[str], None]) -> list[_InferenceVariant]:
    """Baseline, the Stylizer fast path (eager, and compiled with --compile) and, on CPUs
    with onnxruntime installed, the exported ONNX model (fastnst-stylize --backend onnx)."""
    from fastnst.inference import Stylizer

    def torch_variant(variant: str, backend: str, precision: str,
                      channels_last: bool) -> _InferenceVariant:
        stylizer = Stylizer(copy.deepcopy(net), str(device), _STYLIZE_PRECISION[precision],
                            channels_last=channels_last)
        # Static shapes (one graph per frame size) and the chosen mode, rather than
        # Stylizer(compile=True)'s defaults.
        call = (torch.compile(stylizer.net, dynamic=False, mode=options.compile_mode)
                if backend == "inductor" else stylizer.net)

        def forward(frames: torch.Tensor) -> torch.Tensor:
            with (torch.autocast(device.type, dtype=stylizer.dtype) if stylizer.dtype
                  else nullcontext()):
                return call(frames)

        return _InferenceVariant(variant, backend, precision, channels_last, forward)

    fast = _optimized_precision(device)
    layout = _optimized_channels_last(options, device)
    variants = [torch_variant("baseline", "eager", "fp32", False)]
    if (fast, layout) != ("fp32", False):  # else the same path as the baseline
        variants.append(torch_variant("optimized", "eager", fast, layout))
    if options.compile:
        variants.append(torch_variant("optimized", "inductor", fast, layout))
    if device.type == "cpu":
        try:
            from fastnst.export import onnx_bytes
            from fastnst.inference import OnnxStylizer

            onnx = OnnxStylizer(onnx_bytes(net))
        except (ImportError, FastNSTError) as err:
            log(f"(no onnxruntime row: {err})")
        else:
            variants.append(_InferenceVariant("optimized", "onnxruntime", "fp32", False,
                                              onnx.stylize_tensor))
    return variants


def _bench_inference(options: BenchOptions, device: torch.device, device_name: str,
                     peak: dict[str, Any], iters: int, warmup: int,
                     log: Callable[[str], None]) -> list[Measurement]:
    sizes = options.sizes or default_sizes(device)
    megapixels = options.batch_megapixels
    if megapixels is None:
        megapixels = 16.0 if device.type == "cuda" else 0.0
    results: list[Measurement] = []
    for net_width in options.widths:
        torch.manual_seed(0)
        net = TransformerNet(net_width).eval()  # random weights: speed does not depend on them
        variants = _inference_variants(net, device, options, log)
        for size in sizes:
            flops = transformer_flops(net_width, size[1], size[0])
            baseline_ms = None
            for way in variants:
                batch = 1 if way.variant == "baseline" else _inference_batch(size, megapixels)
                memory_format = (torch.channels_last if way.channels_last
                                 else torch.contiguous_format)
                torch.backends.cudnn.benchmark = way.variant == "optimized"
                while True:
                    try:
                        seconds, peak_mb = _time_inference(way.forward, size, batch,
                                                           memory_format, iters, warmup, device)
                        break
                    except torch.cuda.OutOfMemoryError:
                        if batch == 1:
                            raise
                        batch //= 2  # a smaller batch of these frames may still fit
                        torch.cuda.empty_cache()
                megapixels_per_s = size[0] * size[1] * iters * batch / seconds / 1e6
                row = _measurement(
                    "inference", device_name, size, net_width, way.variant, way.backend,
                    way.precision, way.channels_last, batch, seconds, iters * batch, peak_mb,
                    flops, peak_for(peak, way.precision, device), iters, warmup,
                    {"megapixels_per_s": round(megapixels_per_s, 3)})
                if way.variant == "baseline":
                    baseline_ms = row.ms_per_item
                elif baseline_ms is not None:
                    row.speedup = round(baseline_ms / row.ms_per_item, 3)
                results.append(row)
                log(format_row(row))
    torch.backends.cudnn.benchmark = False
    return results


# ----------------------------------------------------------------------------- training


def _bench_train(options: BenchOptions, device: torch.device, device_name: str,
                 peak: dict[str, Any], iters: int, warmup: int, workdir: Path,
                 log: Callable[[str], None]) -> list[Measurement]:
    import lightning as L

    # Lightning's per-fit notes ("GPU available: ...") would break up the table.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    from fastnst.config import TrainConfig, config_to_dict, load_config
    from fastnst.data import make_loader, open_dataset, prepare_cache
    from fastnst.module import StyleTransferModule

    size = options.train_size
    cache = workdir / "cache"
    prepare_cache([options.photos], cache, size, max_pixels=150_000_000, progress=False)
    fast_precision = _optimized_precision(device)
    layout = _optimized_channels_last(options, device)
    workers = _workers(options)
    fast_batch = options.train_batch or (64 if device.type == "cuda" else 8)
    variants = [("baseline", "eager", "fp32", options.baseline_batch, options.photos, False,
                 False),
                ("optimized", "eager", fast_precision, fast_batch, str(cache),
                 layout, False)]
    if options.compile:
        variants.append(("optimized", "inductor", fast_precision, fast_batch, str(cache),
                         layout, True))

    class StepTimer(L.Callback):
        """Times the steps after the first `warmup` ones, until the end of fit."""

        def __init__(self) -> None:
            self.memory = PeakMemory(device)
            self.started = 0.0
            self.seconds = 0.0

        def _start(self) -> None:
            _synchronize(device)
            self.memory.__enter__()
            self.started = time.perf_counter()

        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if warmup == 0:
                self._start()

        def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
            if warmup > 0 and trainer.global_step == warmup:
                self._start()

        def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            _synchronize(device)
            self.seconds = time.perf_counter() - self.started
            self.memory.__exit__(None, None, None)

    results: list[Measurement] = []
    flops = None
    baseline_ms = None
    for variant, backend, precision, batch, data, channels_last, compiled in variants:
        config = load_config(TrainConfig, [], {
            "style": options.style, "data": data, "vgg_weights": options.vgg_weights,
            "image_size": size, "batch_size": batch, "width": options.train_width,
            # The style's Grams are computed once before training: its size does not matter.
            "style_size": size,
            "precision": _TRAIN_PRECISION[precision],
            "channels_last": channels_last, "compile": compiled,
            "num_workers": workers, "max_steps": warmup + iters,
            "runs_dir": str(workdir / "runs")})
        module = StyleTransferModule(config, config_to_dict(config))
        if flops is None:
            perceptual = module.perceptual
            flops = train_flops_per_image(options.train_width, size, perceptual.vgg,
                                          perceptual.content_layers, perceptual.layers)
        loader = make_loader(open_dataset(data, size, config.max_pixels), batch,
                             workers, num_samples=(warmup + iters) * batch)
        timer = StepTimer()
        trainer = L.Trainer(
            accelerator="gpu" if device.type == "cuda" else "cpu",
            devices=[device.index or 0] if device.type == "cuda" else 1,
            precision="32-true" if precision == "fp32" else config.precision,  # type: ignore[arg-type]
            max_steps=warmup + iters, logger=False, enable_checkpointing=False,
            enable_progress_bar=False, enable_model_summary=False,
            benchmark=variant == "optimized", default_root_dir=str(workdir),
            callbacks=[timer])
        trainer.fit(module, train_dataloaders=loader)
        data_note = (f"photo folder: PIL decode + resize, {workers} workers"
                     if variant == "baseline" else
                     f"uint8 photo cache, crop + flip on the device, {workers} workers")
        items_per_s = iters * batch / timer.seconds
        row = _measurement(
            "train", device_name, (size, size), options.train_width, variant, backend,
            precision, channels_last and device.type == "cuda", batch, timer.seconds,
            iters * batch, timer.memory.mb, flops, peak_for(peak, precision, device), iters,
            warmup,
            {"data": data_note,
             "coco_2_epochs_min": round(2 * COCO_TRAIN2014_IMAGES / items_per_s / 60, 2)})
        if variant == "baseline":
            baseline_ms = row.ms_per_item
        elif baseline_ms is not None:
            row.speedup = round(baseline_ms / row.ms_per_item, 3)
        results.append(row)
        log(format_row(row))
    return results


# ------------------------------------------------------------------------------ report


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"CPU {model}, {torch.get_num_threads()} threads"


TABLE_COLUMNS = ("task", "size", "net", "variant", "backend", "prec", "layout", "batch",
                 "ms/item", "items/s", "MP/s", "mem MB", "speedup", "%peak", "2 COCO ep")


def format_row(row: Measurement) -> str:
    """One table line for a measurement (columns TABLE_COLUMNS)."""
    megapixels = row.extra.get("megapixels_per_s")
    coco = row.extra.get("coco_2_epochs_min")
    cells = (
        row.task, f"{row.width_px}x{row.height}", f"{row.net_width:g}", row.variant,
        row.backend, row.precision, "NHWC" if row.memory_format == "channels_last" else "NCHW",
        str(row.batch), f"{row.ms_per_item:.2f}", f"{row.items_per_s:.1f}",
        "-" if megapixels is None else f"{megapixels:.1f}",
        "-" if row.peak_mem_mb is None else f"{row.peak_mem_mb:.0f}",
        "-" if row.speedup is None else f"{row.speedup:.2f}x",
        "-" if row.peak_share is None else f"{100 * row.peak_share:.1f}",
        "-" if coco is None else f"{coco:.1f} min",
    )
    return _line(cells)


def _line(cells: Sequence[str]) -> str:
    widths = (9, 9, 4, 9, 11, 5, 6, 5, 9, 9, 7, 7, 8, 6, 10)
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))


def run_bench(options: BenchOptions, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure, print a table through `log`, write options.output; returns the report.

    Report: device, torch version, peak FLOP/s assumed, how FLOPs and time are counted, and
    `results`, one dict per measurement (Measurement.row()).
    """
    from fastnst.inference import resolve_device

    device = resolve_device(options.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    output = Path(options.output)
    if not output.parent.is_dir():
        raise FastNSTError(f"output folder does not exist: {output.parent}")
    iters = options.iters or (20 if device.type == "cuda" else 3)
    warmup = options.warmup if options.warmup is not None else (5 if device.type == "cuda"
                                                                else 1)
    device_name = _device_name(device)
    peak = device_peak(device)
    peaks = ", ".join(f"{key.removesuffix('_tflops')} {value:g}" for key, value in peak.items()
                      if key != "source")
    log(f"fastnst-bench on {device_name}, torch {torch.__version__}; peak TFLOP/s assumed: "
        f"{peaks or 'unknown'} ({peak['source']})")
    log(_line(TABLE_COLUMNS))
    results: list[Measurement] = []
    if "inference" in options.tasks:
        results += _bench_inference(options, device, device_name, peak, iters, warmup, log)
    if "train" in options.tasks:
        with tempfile.TemporaryDirectory(prefix="fastnst-bench-") as workdir:
            results += _bench_train(options, device, device_name, peak, iters, warmup,
                                    Path(workdir), log)
    report = {
        "fastnst_version": __version__,
        "command": options.command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": device_name,
        "device_type": device.type,
        "torch": torch.__version__,
        "cuda": torch.version.cuda if device.type == "cuda" else None,
        "peak_flops": peak,
        "flop_counting": FLOP_COUNTING,
        "timing": TIMING,
        "train_method": ("Lightning Trainer.fit on StyleTransferModule, full steps (transform "
                         "net forward, VGG losses, backward, Adam step); progress bar, logger "
                         "and checkpoints off; photos sampled with replacement"),
        "options": {k: v for k, v in asdict(options).items() if k != "command"},
        "results": [row.row() for row in results],
    }
    with atomic_output(output) as tmp:
        tmp.write_text(json.dumps(report, indent=2) + "\n")
    log(f"wrote {output}")
    return report
