"""Timing and memory measurement for `fastnst-bench`, and the rows it reports."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import torch

TIMING = (
    "Wall clock over `iters` calls after `warmup` calls (compilation and cuDNN autotuning "
    "happen there), with torch.cuda.synchronize() at both ends on CUDA. peak_mem_mb: CUDA "
    "torch.cuda.max_memory_allocated over the timed calls (weights and inputs included); "
    "CPU: growth of the resident set size over the measurement, sampled every ms "
    "(approximate: the allocator keeps freed memory)."
)


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


def measurement(task: str, device_name: str, size: tuple[int, int], net_width: float,
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


def add_speedup(row: Measurement, baseline_ms: float | None) -> float | None:
    """Give an optimized row its speed-up over the baseline (ms per item); rows come baseline
    first. Returns the baseline ms per item to pass with the next row."""
    if row.variant == "baseline":
        return row.ms_per_item
    if baseline_ms is not None:
        row.speedup = round(baseline_ms / row.ms_per_item, 3)
    return baseline_ms


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
        # "?": above the measured CPU peak (see fastnst.bench.flops.share_of_peak)
        ("?" if "peak_share_unreliable" in row.extra else "-") if row.peak_share is None
        else f"{100 * row.peak_share:.1f}",
        "-" if coco is None else f"{coco:.1f} min",
    )
    return line(cells)


def line(cells: Sequence[str]) -> str:
    widths = (9, 9, 4, 9, 11, 5, 6, 5, 9, 9, 7, 7, 8, 6, 10)
    return "  ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True))
