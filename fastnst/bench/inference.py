"""`fastnst-bench` inference rows: the transform net on frames already on the device.

Baseline: fp32, eager, NCHW, batch 1. Optimized: the `Stylizer` fast path (on GPUs bf16
autocast, channels_last, several frames per batch, optionally torch.compile); on CPUs, where
that path is the fp32 NCHW baseline, the exported ONNX model in onnxruntime.
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import torch

from fastnst.bench.bench_config import BenchConfig
from fastnst.bench.flops import peak_for, transformer_flops
from fastnst.bench.timing import Measurement, PeakMemory, add_speedup, measurement
from fastnst.core.devices import native_bf16, synchronize
from fastnst.core.errors import FastNSTError
from fastnst.models.johnson import TransformerNet


def default_sizes(device: torch.device) -> tuple[tuple[int, int], ...]:
    """Inference sizes (width, height): up to 4K on GPUs, up to 1024x1024 on CPUs."""
    if device.type == "cuda":
        return ((512, 512), (1920, 1080), (3840, 2160))
    return ((512, 512), (1024, 1024))


# Our precision names -> fastnst-stylize's and fastnst-train's.
STYLIZE_PRECISION = {"fp32": "32", "bf16": "bf16", "fp16": "16"}
TRAIN_PRECISION = {"fp32": "32", "bf16": "bf16-mixed", "fp16": "16-mixed"}


def optimized_precision(device: torch.device) -> str:
    if device.type != "cuda":
        return "fp32"  # CPU bf16 autocast is slower than fp32 without AMX/AVX512-BF16 units
    return "bf16" if native_bf16(device) else "fp16"


def optimized_channels_last(options: BenchConfig, device: torch.device) -> bool:
    """The optimized layout: as asked, else channels_last on CUDA only, as fastnst-stylize and
    fastnst-train do (on 2 CPU cores eager channels_last measured 5-20% slower than NCHW)."""
    return device.type == "cuda" if options.channels_last is None else options.channels_last


def workers_for(options: BenchConfig) -> int:
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
            synchronize(device)
            started = time.perf_counter()
            for _ in range(iters):
                forward(frames)
            synchronize(device)
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


def _inference_variants(net: TransformerNet, device: torch.device, options: BenchConfig,
                        log: Callable[[str], None]) -> list[_InferenceVariant]:
    """Baseline, the Stylizer fast path (eager, and compiled with --compile) and, on CPUs
    with onnxruntime installed, the exported ONNX model (fastnst-stylize --backend onnx)."""
    from fastnst.inference.stylizer import Stylizer

    def torch_variant(variant: str, backend: str, precision: str,
                      channels_last: bool) -> _InferenceVariant:
        stylizer = Stylizer(copy.deepcopy(net), str(device), STYLIZE_PRECISION[precision],
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

    fast = optimized_precision(device)
    layout = optimized_channels_last(options, device)
    variants = [torch_variant("baseline", "eager", "fp32", False)]
    if (fast, layout) != ("fp32", False):  # else the same path as the baseline
        variants.append(torch_variant("optimized", "eager", fast, layout))
    if options.compile:
        variants.append(torch_variant("optimized", "inductor", fast, layout))
    if device.type == "cpu":
        try:
            from fastnst.inference.export import onnx_bytes
            from fastnst.inference.onnx_backend import OnnxStylizer

            onnx = OnnxStylizer(onnx_bytes(net))
        except (ImportError, FastNSTError) as err:
            log(f"(no onnxruntime row: {err})")
        else:
            variants.append(_InferenceVariant("optimized", "onnxruntime", "fp32", False,
                                              onnx.stylize_tensor))
    return variants


def bench_inference(options: BenchConfig, device: torch.device, device_name: str,
                     peak: dict[str, Any], iters: int, warmup: int, log: Callable[[str], None],
                     record: Callable[[Measurement], None]) -> list[Measurement]:
    """Measure every width x size x variant; each row goes to `record` (which prints and
    saves it) as soon as it is measured. Returns the rows."""
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
            baseline_ms: float | None = None
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
                row = measurement(
                    "inference", device_name, size, net_width, way.variant, way.backend,
                    way.precision, way.channels_last, batch, seconds, iters * batch, peak_mb,
                    flops, peak_for(peak, way.precision, device), iters, warmup,
                    {"megapixels_per_s": round(megapixels_per_s, 3)})
                baseline_ms = add_speedup(row, baseline_ms)
                results.append(row)
                record(row)
    torch.backends.cudnn.benchmark = False
    return results
