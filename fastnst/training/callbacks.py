"""Training callbacks: the batch size for throughput, stylized sample images, progress for a
caller, the quality report, atomic checkpoint files."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from statistics import mean
from typing import Any

import lightning as L
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from fastnst.core.images import atomic_output
from fastnst.evaluation.quality import HeldOutPhotos
from fastnst.models.johnson import select_style


def batch_images(batch: dict[str, Any]) -> int:
    """Images in one process's batch: Lightning's ThroughputMonitor counts samples with it
    (and multiplies by the number of processes for the all-process rate)."""
    return int(batch["images"].shape[0])


class SampleImages(L.Callback):
    """Stylizes a fixed set of images every `every` steps and at the end, into TensorBoard.

    samples: (K, 3, H, W) in [0, 1]; logged as "samples/content" once and
    "samples/stylized" at each interval.
    """

    def __init__(self, samples: torch.Tensor, every: int) -> None:
        self.samples = samples
        self.every = every
        self.last_logged = -1

    def _log(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        step = trainer.global_step
        if not trainer.is_global_zero or trainer.logger is None or step == self.last_logged:
            return
        writer = trainer.logger.experiment
        if self.last_logged < 0:
            writer.add_images("samples/content", self.samples, step)
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            stylized = pl_module(self.samples.to(pl_module.device)).float().cpu()
        pl_module.train(was_training)
        writer.add_images("samples/stylized", stylized, step)
        self.last_logged = step

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step % self.every == 0:
            self._log(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._log(trainer, pl_module)


class ProgressReport(L.Callback):
    """Tells `report(step, total, preview)` how far training is, for a caller watching it (the
    web site's training jobs): at the start (a resumed run: its checkpoint's step), after
    every optimizer step, and at the end (rank 0 only).

    photo: (1, 3, H, W) float in [0, 1], any device. preview: `photo` stylized by the net as
    it is now, (1, 3, H', W') float in [0, 1] on the CPU, or None. It costs one forward pass,
    so it is made at the start, at the end, and otherwise at most every `every` seconds.
    total: the run's max_steps (a --max-minutes guard may end it sooner). `report` may raise
    to stop training: the exception leaves Trainer.fit (and fastnst's train()) unchanged.
    """

    def __init__(self, report: Callable[[int, int, torch.Tensor | None], None],
                 photo: torch.Tensor, every: float) -> None:
        self.report = report
        self.photo = photo
        self.every = every
        self.last_preview: float | None = None

    def _report(self, trainer: L.Trainer, pl_module: L.LightningModule, force: bool) -> None:
        if not trainer.is_global_zero:
            return
        now = time.monotonic()
        preview = None
        if force or self.last_preview is None or now - self.last_preview >= self.every:
            was_training = pl_module.training
            pl_module.eval()
            with torch.no_grad():
                preview = pl_module(self.photo.to(pl_module.device)).float().clamp(0, 1).cpu()
            pl_module.train(was_training)
            self.last_preview = now
        self.report(trainer.global_step, trainer.max_steps, preview)

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module, force=True)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        self._report(trainer, pl_module, force=False)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._report(trainer, pl_module, force=True)


class QualityReport(L.Callback):
    """Scores the transform net with fastnst-eval's metric on held-out photos (rank 0 only).

    Every `every` steps (None: never) and at the end of training, logs "eval/style" and
    "eval/content" (dimensionless, see fastnst.evaluation.metrics; for a multi-style net the
    means over its trained styles, and each style's as "eval/style/NAME" and
    "eval/content/NAME") and keeps the last results in `last` ({style name: score's dict +
    "step"}) and the photos and metric per style in `held_out` for the caller.
    data: folder or file of photos, scored at long side `size` px; styles: {name: style
    image} of the styles this run trains (a multi-style net is scored on each through
    select_style).
    """

    def __init__(self, data: str | Path, styles: dict[str, str], size: int, every: int | None,
                 max_pixels: int) -> None:
        self.data, self.styles, self.size = data, styles, size
        self.every = every
        self.max_pixels = max_pixels
        self.held_out: dict[str, HeldOutPhotos] = {}
        self.last: dict[str, dict[str, Any]] | None = None
        self.step: int | None = None

    def score(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Score and log the net at the trainer's step, unless done at this step already."""
        step = trainer.global_step
        if not trainer.is_global_zero or self.step == step:
            return
        net = pl_module.transformer
        results: dict[str, dict[str, Any]] = {}
        for name, style in self.styles.items():
            if name not in self.held_out:  # loaded once, on the device the net trains on
                self.held_out[name] = HeldOutPhotos(self.data, style, self.size,
                                                    self.max_pixels, pl_module.device)
            one = select_style(net, {name: 1.0}) if getattr(net, "styles", ()) else net
            results[name] = {**self.held_out[name].score(one), "step": step}
        self.last, self.step = results, step
        if trainer.logger is not None:
            # Logged through the logger, not pl_module.log: Lightning forbids log() in
            # on_train_end, and these are one value per call, not a step's mean.
            metrics = {"eval/style": mean(r["style_error"] for r in results.values()),
                       "eval/content": mean(r["content_error"] for r in results.values())}
            if len(results) > 1:
                for name, result in results.items():
                    metrics[f"eval/style/{name}"] = result["style_error"]
                    metrics[f"eval/content/{name}"] = result["content_error"]
            trainer.logger.log_metrics(metrics, step)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if self.every is not None and trainer.global_step % self.every == 0:
            self.score(trainer, pl_module)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.score(trainer, pl_module)


class SaveLastCheckpoint(L.Callback):
    """At the end of training, saves the full state (for --resume) to `path`, the run's one
    end-of-fit save, before the callbacks after it run: listed before QualityReport, a failure
    in the final score cannot lose the trained weights (the first multi-style run on a GPU
    lost them that way)."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        trainer.save_checkpoint(self.path, weights_only=False)


class AtomicCheckpointIO(TorchCheckpointIO):
    """Writes Lightning checkpoints to a temp file and renames it: no half-written .ckpt.

    A process killed mid-write (kill -9, power loss) leaves its temp file,
    `.<name>.ckpt.<random>.tmp.ckpt` (fastnst.core.files.atomic_output), beside the previous
    complete checkpoint; `remove_stale_temps` deletes such files when the next run starts.

    Kept over Lightning's own: its TorchCheckpointIO (2.6, `_atomic_save`) writes through an
    fsspec transaction whose temp file is `tempfile.mkstemp()` in $TMPDIR, then
    `shutil.move`s it. That is a rename only when $TMPDIR is on the run folder's file
    system; elsewhere (a tmpfs /tmp) it is a copy, which a kill -9 leaves half-written under
    the real name; a killed write also leaves a checkpoint-sized file in $TMPDIR that
    nothing removes. Ours writes the temp file beside the target, so the rename is atomic.
    """

    # What fastnst.core.files.atomic_output names its temp files for "<name>.ckpt".
    TEMP_PATTERN = ".*.ckpt.*.tmp.ckpt"

    @classmethod
    def remove_stale_temps(cls, folder: Path) -> list[Path]:
        """Delete temp files left in `folder` by killed writers; returns those deleted.

        Call it only before this run writes checkpoints (no writer of its own can be busy).
        """
        stale = sorted(folder.glob(cls.TEMP_PATTERN)) if folder.is_dir() else []
        for path in stale:
            path.unlink(missing_ok=True)
        return stale

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any,
                        storage_options: Any | None = None) -> None:
        path = os.fspath(path)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with atomic_output(path) as tmp:
            torch.save(checkpoint, tmp)
