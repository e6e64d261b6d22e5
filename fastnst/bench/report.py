"""`fastnst-bench`: the baseline and the optimized path, measured in one run on one machine.

Inference rows: fastnst.bench.inference; training rows: fastnst.bench.training. Results go
to a JSON file (written atomically) and a table on stdout; see `run_bench`.
"""

from __future__ import annotations

import json
import platform
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from fastnst import __version__
from fastnst.bench.bench_config import BenchConfig
from fastnst.bench.flops import FLOP_COUNTING, device_peak, share_of_peak
from fastnst.bench.inference import bench_inference
from fastnst.bench.timing import TABLE_COLUMNS, TIMING, Measurement, format_row, line
from fastnst.bench.training import bench_train
from fastnst.core.devices import resolve_device
from fastnst.core.errors import first_line
from fastnst.core.files import atomic_output, check_output_file


def device_name(device: torch.device) -> str:
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


def run_bench(options: BenchConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure, print a table through `log`, write options.output; returns the report.

    Report: device, torch version, peak FLOP/s assumed, how FLOPs and time are counted, and
    `results`, one dict per measurement (Measurement.row()). The file is rewritten after each
    row, with `complete` false until the last one and `error` naming what stopped the run.
    """
    device = resolve_device(options.device)
    if device.type == "cuda" and device.index is not None:
        torch.cuda.set_device(device)
    output = check_output_file(options.output, (".json",))
    iters = options.iters or (20 if device.type == "cuda" else 3)
    warmup = options.warmup if options.warmup is not None else (5 if device.type == "cuda"
                                                                else 1)
    name = device_name(device)
    peak = device_peak(device)
    peaks = ", ".join(f"{key.removesuffix('_tflops')} {value:g}" for key, value in peak.items()
                      if key != "source")
    log(f"fastnst-bench on {name}, torch {torch.__version__}; peak TFLOP/s assumed: "
        f"{peaks or 'unknown'} ({peak['source']})")
    log(line(TABLE_COLUMNS))
    results: list[Measurement] = []
    report: dict[str, Any] = {
        "fastnst_version": __version__,
        "command": options.command,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "device": name,
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
        "complete": False,
        "results": [],
    }

    def write() -> None:
        report["results"] = [row.row() for row in results]
        with atomic_output(output) as tmp:
            tmp.write_text(json.dumps(report, indent=2) + "\n")

    def record(row: Measurement) -> None:
        """Print the row and rewrite the report with it: a later row that fails (a GPU out of
        memory, a compiler error) must not lose the rows measured before it."""
        share_of_peak(row, peak, device)
        results.append(row)
        log(format_row(row))
        write()

    try:
        if "inference" in options.tasks:
            bench_inference(options, device, name, peak, iters, warmup, log, record)
        if "train" in options.tasks:
            with tempfile.TemporaryDirectory(prefix="fastnst-bench-") as workdir:
                bench_train(options, device, name, peak, iters, warmup, Path(workdir),
                            record)
    except Exception as err:
        report["error"] = f"{type(err).__name__}: {first_line(err, 300)}"
        write()
        log(f"wrote {output} ({len(results)} rows; stopped by {report['error']})")
        raise
    report["complete"] = True
    write()
    log(f"wrote {output}")
    return report
