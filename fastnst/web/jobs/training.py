"""Running a "train a fast model" job on a worker: fastnst's training recipe (--train-config,
the quick recipe by default) on the uploaded painting, through the library's train(), with
the site's caps on top, progress and previews in the job's record, and resume after a
killed worker.

The run's Lightning checkpoints live on the worker's disk, DATA_DIR/training/JOB_ID/: a
worker restarted on the same machine resumes from the last one; a job taken over by a worker
on another machine trains again from the start. The finished model travels back through the
queue's storage (JobStore.put_model), like every other job output, and the folder is removed.

Lightning is imported inside train_model only: this module is imported by workers when a
training job runs, never by the site's process.
"""

from __future__ import annotations

import logging
import math
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from fastnst.core.assets import CONTENT_DIR, PHOTOS_DIR
from fastnst.core.errors import FastNSTError
from fastnst.core.images import decode_image, open_image, resize_long_side, to_tensor
from fastnst.core.settings import load_config
from fastnst.inference.stylizer import Stylizer
from fastnst.training.train_config import TrainConfig
from fastnst.web.jobs.progress import PREVIEW_EVERY, JobSuperseded
from fastnst.web.jobs.queue import JobRecord, JobStore
from fastnst.web.web_config import WebConfig

log = logging.getLogger(__name__)
# The photo every training job's previews and result show: a bundled sample, so previews of
# different styles compare on the same picture.
PREVIEW_PHOTO = CONTENT_DIR / "chicago.jpg"
PREVIEW_SIDE = 256  # px, long side of the previews while training (one forward pass each)
RESULT_SIDE = 512  # px, long side of the job's result picture (the finished model's output)


@dataclass(frozen=True)
class TrainedJob:
    """What a training job hands back: the slim model file's bytes (fastnst's checkpoint
    format, float16 weights), the preview photo stylized by it (RGB, long side RESULT_SIDE
    px), and the optimizer steps it trained in all (fewer than planned when
    --train-minutes ended it)."""

    model: bytes
    result: Image.Image
    steps: int


def run_folder(config: WebConfig, job_id: str) -> Path:
    """The job's working folder on this worker: its style image, Lightning run, model."""
    return config.data_path / "training" / job_id


def _style_stem(style_name: str) -> str:
    """A file stem for the style image (its stem becomes the style's name in the model)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", style_name).strip("_")[:60] or "style"


def _hardware(device: str) -> dict[str, str]:
    """--device (auto, cpu, cuda, cuda:N) as TrainConfig's accelerator and devices: always one
    device (a job is one process; DDP is for fastnst-train)."""
    if device == "cpu":
        return {"accelerator": "cpu", "devices": "1"}
    if device.startswith("cuda:"):
        return {"accelerator": "gpu", "devices": device.partition(":")[2] + ","}
    return {"accelerator": "gpu" if device == "cuda" else "auto", "devices": "1"}


def training_config(config: WebConfig, style_path: Path, folder: Path, job_id: str,
                    resume: bool) -> TrainConfig:
    """The job's TrainConfig: the recipe (--train-config) with the site's caps on top.

    Steps, crop and minutes are the lower of the recipe's and the site's. A recipe's small-crop
    curriculum keeps its share of the steps (quick: 330 of 340 at 128 px), and is dropped
    when the crop is capped to its size or less.
    """
    paths = {"style": (str(style_path),), "data": str(config.train_data or PHOTOS_DIR),
             "name": job_id, "runs_dir": str(folder / "runs"),
             "output": str(folder / "model.ckpt"), "resume": resume,
             # float16 weights: half the bytes through the queue's storage (as the shipped
             # models); a worker is a daemon process, which may not start loader processes.
             "half": True, "num_workers": 0, **_hardware(config.device)}
    recipe = load_config(TrainConfig, [config.train_config], paths)
    steps = min(recipe.max_steps, config.train_steps)
    size = min(recipe.image_size, config.train_size)
    small = recipe.small_crop if recipe.small_crop < size else 0
    small_steps = round(recipe.small_crop_steps * steps / recipe.max_steps) if small else 0
    minutes = min(recipe.max_minutes or math.inf, config.train_minutes)
    caps = {"max_steps": steps, "image_size": size, "small_crop": small,
            "small_crop_steps": small_steps, "max_minutes": minutes,
            "eval_size": min(recipe.eval_size, size)}
    return load_config(TrainConfig, [config.train_config], {**paths, **caps})


def train_model(store: JobStore, config: WebConfig, record: JobRecord,
                on_step: Callable[[JobRecord, int, torch.Tensor | None], None]) -> TrainedJob:
    """Train the job's model from its style image; resume from this worker's last checkpoint
    of the job when there is one.

    on_step(record, step, preview): called at the start, after every step and at the end,
    with the record as this run sees it (iterations and resumed_from set); it raises to stop
    the run (a cancelled or superseded job), which leaves the folder for a later attempt.
    Raises FastNSTError for a style image or setting the recipe cannot use.
    """
    from fastnst.training.callbacks import ProgressReport
    from fastnst.training.train import checkpoint_step, train

    photos = Path(config.train_data or PHOTOS_DIR)
    if not photos.is_dir():  # the site's setting, said in its words (train() names --data)
        raise FastNSTError(f"this site's training photos are missing: no folder {photos} "
                           "(--train-data)")
    data = store.image(record.id, "style")
    if data is None:
        raise FastNSTError("the job's style image is missing from the queue's storage")
    folder = run_folder(config, record.id)
    folder.mkdir(parents=True, exist_ok=True)
    style_path = folder / f"{_style_stem(record.style_name)}.png"
    decode_image(data, "style", config.max_pixels).save(style_path)
    last = folder / "runs" / record.id / "checkpoints" / "last.ckpt"
    resumed_from = checkpoint_step(last) if last.is_file() else 0
    train_config = training_config(config, style_path, folder, record.id, resumed_from > 0)
    record = record.updated_with(iterations=train_config.max_steps,
                                 size=train_config.image_size, resumed_from=resumed_from)
    store.put(record)
    log.info("job %s: training %d steps at %d px%s", record.id, train_config.max_steps,
             train_config.image_size, f", resumed at step {resumed_from}" if resumed_from else "")
    sample = open_image(PREVIEW_PHOTO, config.max_pixels)
    photo = to_tensor(resize_long_side(sample, PREVIEW_SIDE)).unsqueeze(0)  # (1, 3, H, W)
    progress = ProgressReport(lambda step, _total, preview: on_step(record, step, preview),
                              photo, every=PREVIEW_EVERY)
    try:
        output = train(train_config, callbacks=[progress])
        model = output.read_bytes()
        stylizer = Stylizer.from_checkpoint(output, device="cpu")
        result = stylizer(resize_long_side(sample, RESULT_SIDE))
    except JobSuperseded:
        raise  # the newer attempt resumes from this folder's checkpoints
    except Exception:
        shutil.rmtree(folder, ignore_errors=True)  # cancelled or failed: the job is over
        raise
    shutil.rmtree(folder, ignore_errors=True)  # the model is in hand; checkpoints are done
    return TrainedJob(model=model, result=result, steps=int(stylizer.meta["steps"]))

