"""`fastnst-bench` training rows: full steps through Lightning's `Trainer.fit`.

Steps run as `fastnst-train` runs them (transform net forward, content targets, loss network,
backward, Adam step, logging), progress bar and checkpoints off. Baseline: fp32, eager, NCHW,
batch 4, photos decoded and resized with PIL in data-loader workers. Optimized: bf16-mixed on
GPUs, channels_last (CUDA), fused Adam, a uint8 photo cache cropped and flipped on the device,
a large batch, optionally torch.compile.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fastnst.bench.bench_config import BenchConfig
from fastnst.bench.flops import peak_for, train_flops_per_image
from fastnst.bench.inference import (
    TRAIN_PRECISION,
    optimized_channels_last,
    optimized_precision,
    workers_for,
)
from fastnst.bench.timing import Measurement, PeakMemory, add_speedup, measurement
from fastnst.core.devices import synchronize

COCO_TRAIN2014_IMAGES = 82_783


def bench_train(options: BenchConfig, device: torch.device, device_name: str,
                 peak: dict[str, Any], iters: int, warmup: int, workdir: Path,
                 record: Callable[[Measurement], None]) -> list[Measurement]:
    """Baseline and optimized training rows (see the module docstring); each goes to
    `record` (which prints and saves it) as soon as it is measured. Returns the rows."""
    import lightning as L

    # Lightning's per-fit notes ("GPU available: ...") would break up the table.
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    from fastnst.core.settings import config_to_dict, load_config
    from fastnst.training.cache import prepare_cache
    from fastnst.training.datamodule import make_loader, open_dataset
    from fastnst.training.module import StyleTransferModule
    from fastnst.training.train import quiet_lightning
    from fastnst.training.train_config import TrainConfig

    quiet_lightning()

    size = options.train_size
    cache = workdir / "cache"
    prepare_cache([options.photos], cache, size, max_pixels=150_000_000, progress=False)
    fast_precision = optimized_precision(device)
    layout = optimized_channels_last(options, device)
    workers = workers_for(options)
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
            synchronize(device)
            self.memory.__enter__()
            self.started = time.perf_counter()

        def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            if warmup == 0:
                self._start()

        def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
            if warmup > 0 and trainer.global_step == warmup:
                self._start()

        def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
            synchronize(device)
            self.seconds = time.perf_counter() - self.started
            self.memory.__exit__(None, None, None)

    results: list[Measurement] = []
    flops = None
    baseline_ms: float | None = None
    for variant, backend, precision, batch, data, channels_last, compiled in variants:
        config = load_config(TrainConfig, [], {
            "style": options.style, "data": data, "vgg_weights": options.vgg_weights,
            "image_size": size, "batch_size": batch, "width": options.train_width,
            # The style's Grams are computed once before training: its size does not matter.
            "style_size": size,
            "precision": TRAIN_PRECISION[precision],
            "channels_last": channels_last, "compile": compiled,
            "num_workers": workers, "max_steps": warmup + iters,
            "runs_dir": str(workdir / "runs")})
        module = StyleTransferModule(config, {"config": config_to_dict(config)})
        if flops is None:
            perceptual = module.perceptual
            flops = train_flops_per_image(options.train_width, size, perceptual.network,
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
        row = measurement(
            "train", device_name, (size, size), options.train_width, variant, backend,
            precision, channels_last and device.type == "cuda", batch, timer.seconds,
            iters * batch, timer.memory.mb, flops, peak_for(peak, precision, device), iters,
            warmup,
            {"data": data_note,
             "coco_2_epochs_min": round(2 * COCO_TRAIN2014_IMAGES / items_per_s / 60, 2)})
        baseline_ms = add_speedup(row, baseline_ms)
        results.append(row)
        record(row)
    return results
