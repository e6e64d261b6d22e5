"""`train()`: one fastnst-train run, from a resolved TrainConfig to the slim model file."""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint, ThroughputMonitor
from lightning.pytorch.loggers import TensorBoardLogger

from fastnst.core.assets import CONTENT_DIR
from fastnst.core.errors import FastNSTError, first_line
from fastnst.core.files import check_writable_dir, parent_dir
from fastnst.core.images import list_images, open_image
from fastnst.core.settings import config_to_dict, load_config, save_config
from fastnst.evaluation.quality import format_quality
from fastnst.models.checkpoint import TRAINED_MODELS_DIR, file_sha256, save_model
from fastnst.training.cache import is_cache, read_cache_index
from fastnst.training.callbacks import (
    AtomicCheckpointIO,
    QualityReport,
    SampleImages,
    SaveLastCheckpoint,
    batch_images,
)
from fastnst.training.datamodule import PhotoDataModule, run_seed
from fastnst.training.module import StyleTransferModule
from fastnst.training.photos import load_samples
from fastnst.training.train_config import TrainConfig


class _DropAdverts(logging.Filter):
    """Lightning prints a cloud-logging advert on every run; users asked for their run's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def quiet_lightning() -> None:
    """Silence Lightning chatter that says nothing about the user's run."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    # lightning 2.6 calls a torch 2.14 pytree API that torch deprecated; not ours to fix.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    # --resume restarts the data with fresh randomness by design (see datamodule.run_seed).
    warnings.filterwarnings("ignore", message=r".*your dataloader is not resumable")


def lightning_precision(precision: str, accelerator: str) -> str:
    """Our --precision -> Lightning's: 'auto' is bf16-mixed on GPUs that support it."""
    if precision != "auto":
        return "32-true" if precision == "32" else precision
    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


def lightning_devices(text: str) -> int | str | list[int]:
    """'4' -> 4, '0,2' -> [0, 2], 'auto' -> 'auto' (Lightning's devices argument)."""
    if text.isdigit():
        return int(text)
    if "," in text:
        return [int(part) for part in text.split(",") if part]
    return text


def resolve_train_config(files: list[str], overrides: dict[str, Any]) -> TrainConfig:
    """Defaults < the resumed run's saved config < `files` < `overrides` (the flags).

    `--resume --name X` alone continues with the run's saved config.
    """
    files = list(files)
    if overrides.get("resume"):
        runs_dir = Path(overrides.get("runs_dir", "runs"))
        name = overrides.get("name") or (Path(overrides["style"]).stem
                                         if overrides.get("style") else None)
        if name is None:
            raise FastNSTError("--resume needs --name (or --style) to find the run")
        saved = runs_dir / name / "config.yaml"
        if saved.is_file():
            files.insert(0, str(saved))
    return load_config(TrainConfig, files, overrides)


def _check_outputs(config: TrainConfig, run_dir: Path, output: Path) -> None:
    """Every place training writes, checked before the first step."""
    last = run_dir / "checkpoints" / "last.ckpt"
    if config.resume and not last.is_file():
        raise FastNSTError(f"--resume: no checkpoint at {last}")
    if not config.resume and last.is_file():
        raise FastNSTError(f"run {run_dir} already has checkpoints: pass --resume to continue "
                           "it or --name to start a new run")
    if output.suffix != ".ckpt":
        raise FastNSTError(f"--output must end in .ckpt: {output}")
    # The default models/ folder is made only when the model is saved.
    default_missing = config.output is None and not output.parent.is_dir()
    check_writable_dir(Path(".") if default_missing else output.parent)
    runs_dir = Path(config.runs_dir)
    existing = runs_dir if runs_dir.is_dir() else parent_dir(runs_dir)
    if not existing.is_dir():
        raise FastNSTError(f"--runs-dir {runs_dir}: its parent folder does not exist")
    check_writable_dir(run_dir if run_dir.is_dir() else existing)


def checkpoint_step(path: Path) -> int:
    """The global step (optimizer steps done) saved in a Lightning checkpoint."""
    try:  # mmap: reads the small "global_step" record, not the weights
        return int(torch.load(path, map_location="cpu", weights_only=True,
                              mmap=True)["global_step"])
    except Exception as err:  # zip/pickle errors and a missing key all mean "not usable"
        raise FastNSTError(f"--resume: cannot read {path} ({first_line(err)})") from None


def train(config: TrainConfig, callbacks: Sequence[L.Callback] = ()) -> Path:
    """Run training as configured; returns the slim checkpoint path.

    callbacks: Lightning callbacks added to fastnst's own (checkpoints, throughput, samples,
    quality report). The slim checkpoint's meta["eval"] is the quality report at the end
    (fastnst.evaluation.quality.HeldOutPhotos.block), scored on the float32 net (--half
    stores rounded weights).
    """
    quiet_lightning()
    run_dir = Path(config.runs_dir) / config.run_name
    last = run_dir / "checkpoints" / "last.ckpt"
    # models/, not checkpoints/: in a clone, checkpoints/ holds the shipped models, and a run
    # named after a shipped style would overwrite one.
    output = Path(config.output or Path(TRAINED_MODELS_DIR) / f"{config.run_name}.ckpt")
    _check_outputs(config, run_dir, output)

    # Weights, data order and crops: reproducible for a fresh run, fresh for a resumed one.
    seed = run_seed(config.seed, checkpoint_step(last) if config.resume else 0)
    L.seed_everything(seed, workers=True, verbose=False)  # also the DDP sampler's seed
    datamodule = PhotoDataModule(config.data, config.image_size, config.batch_size,
                                 config.num_workers, config.max_pixels, seed)
    samples = load_samples([config.val_data or CONTENT_DIR], config.image_size,
                           config.val_images, config.max_pixels)
    styles = dict(zip(config.style_names, config.style, strict=True))
    hashes = {name: file_sha256(path) for name, path in styles.items()}
    for path in styles.values():  # a style that is no image: one line now, not a traceback
        open_image(path, config.max_pixels)
    eval_data = config.eval_data or str(CONTENT_DIR)
    list_images([eval_data])  # no held-out photos: say so now, not after training
    quality = QualityReport(eval_data, styles, config.eval_size, config.eval_every,
                            config.max_pixels)
    first = config.style_names[0]
    module = StyleTransferModule(config, {"config": config_to_dict(config),
                                          "style_name": first if len(styles) == 1 else None,
                                          "style_sha256": hashes[first] if len(styles) == 1
                                          else None})
    if os.environ.get("LOCAL_RANK", "0") == "0":
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")
        AtomicCheckpointIO.remove_stale_temps(last.parent)  # from a killed run's last write

    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        max_steps=config.max_steps,
        max_epochs=config.max_epochs if config.max_epochs is not None else -1,
        max_time=None if config.max_minutes is None else timedelta(minutes=config.max_minutes),
        precision=lightning_precision(config.precision, config.accelerator),  # type: ignore[arg-type]
        accelerator=config.accelerator,
        devices=lightning_devices(config.devices),
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        logger=TensorBoardLogger(save_dir=config.runs_dir, name=config.run_name, version="",
                                 default_hp_metric=False),
        callbacks=[
            ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                            every_n_train_steps=config.checkpoint_every),
            LearningRateMonitor(logging_interval="step"),  # "lr", every log_every steps
            # train/device/samples_per_sec (images a second in one process; with several,
            # train/samples_per_sec for all) over the last log_every steps, so the first
            # step's warm-up is out of every figure but the first log's, which it skips.
            ThroughputMonitor(batch_size_fn=batch_images, window_size=config.log_every + 1),
            SampleImages(samples, config.image_every),
            SaveLastCheckpoint(last),  # before the final score, which may fail
            quality,
            *callbacks,
        ],
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=config.log_every,
        enable_model_summary=False,
        benchmark=True,  # fixed crop size: let cuDNN pick the fastest conv algorithms
    )
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if config.resume else None)
    # Every stretch of a resumed run, each to the end of its last step (the value `last`
    # holds, so a resume adds to exactly this); the scoring not included. To the millisecond: a
    # resumed stretch of a few small steps can be under 0.05 s (fastnst-info shows 0.1 s).
    train_seconds = round(module.train_seconds, 3)
    # The full state for --resume is in `last`: SaveLastCheckpoint wrote it at the end of fit
    # (a fit that ran no steps, resumed at its end, left the one it started from).
    if trainer.is_global_zero:
        quality.score(trainer, module)  # a no-op unless fit ran no steps (e.g. resumed at the end)
        reports = {name: _quality_block(config, quality, name) for name in styles}
        output.parent.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {
            "steps": trainer.global_step,
            "images_seen": module.images_seen,
            "train_seconds": train_seconds,
            "skipped_images": module.skipped_images,
            "config": config_to_dict(config),
            "data": describe_data(config.data),
        }
        if config.init is not None:
            meta["init"] = config.init
        if module.transformer.styles:
            # Styles kept from a multi-style --init keep their own records.
            kept = {name: record for name, record in module.init_meta.get("styles", {}).items()
                    if name in module.transformer.styles}
            meta["styles"] = {**kept, **{name: {"sha256": hashes[name], "eval": reports[name]}
                                         for name in styles}}
        else:
            meta.update({"style": first, "style_sha256": hashes[first], "eval": reports[first]})
        save_model(module.transformer, output, half=config.half, meta=meta)
        for name, report in reports.items():
            print((f"{name}: " if len(reports) > 1 else "") + format_quality(report))
        print(f"model: {output}\nTensorBoard: tensorboard --logdir {config.runs_dir}  "
              f"(run folder {run_dir})")
        if module.skipped_images:
            print(f"skipped {module.skipped_images} unreadable training images")
    return output


def _quality_block(config: TrainConfig, quality: QualityReport, style: str) -> dict[str, Any]:
    """meta["eval"] of one trained style: the callback's last score, and the slow baseline's
    on the same photos with the run's own loss settings when --eval-baseline-iters is given."""
    if quality.last is None or style not in quality.last:
        raise RuntimeError("QualityReport did not score the model at the end of training")
    held_out, last = quality.held_out[style], quality.last[style]
    baseline = None
    if config.eval_baseline_iters:
        # A TrainConfig is a LossConfig: the run's own loss settings, as they are.
        baseline = held_out.score_baseline(config, config.eval_baseline_iters)
    return held_out.block(last, last["step"], baseline)


def describe_data(data: str | Path) -> str:
    """The training data in words, for the model's metadata: the folder's name and how many
    images it holds, not a path on the machine that trained it."""
    folder = Path(data)
    name = folder.resolve().name
    if is_cache(folder):
        return (f"{read_cache_index(folder)['shape'][0]} photos in a photo cache named {name!r}")
    try:
        count = len(list_images([folder]))
    except FastNSTError:
        count = 0
    return f"{count} images in a folder named {name!r}"
