"""Running one custom-style job on a worker: the slow optimiser, or training a fast model
(fastnst.web.jobs.training), with progress, previews, cancellation (fastnst.web.jobs.progress),
a heartbeat, and an e-mail at the end.

A job's inputs and outputs travel through the queue's storage (fastnst.web.jobs.queue), so this
runs the same in the site's own worker process and on another machine.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from huey import Huey
from PIL import Image

from fastnst.core.devices import resolve_device
from fastnst.core.errors import FastNSTError, first_line
from fastnst.core.images import decode_image, resize_long_side, to_pil, to_tensor
from fastnst.web.images import encode_image
from fastnst.web.jobs.progress import JobCancelled, JobSuperseded, progress_reporter
from fastnst.web.jobs.queue import TRAIN, JobRecord, JobStore
from fastnst.web.mail import send_job_mail
from fastnst.web.web_config import WebConfig

log = logging.getLogger(__name__)
TASK_NAME = "fastnst.run_job"
def register_task(huey: Huey, config: WebConfig) -> Callable[..., object]:
    """Register the job task on `huey` (the site enqueues it, workers run it); returns it."""
    store = JobStore(huey)

    @huey.task(name=TASK_NAME)
    def run_job(job_id: str, attempt: int) -> None:
        run(store, config, job_id, attempt)

    return run_job


@contextmanager
def heartbeat(store: JobStore, job_id: str, every: float) -> Iterator[None]:
    """Write the job's heartbeat every `every` seconds while the block runs (a thread: a
    long optimiser step or model load must not look like a dead worker)."""
    stop = threading.Event()

    def beat() -> None:
        while not stop.wait(every):
            store.beat(job_id)

    store.beat(job_id)
    thread = threading.Thread(target=beat, name=f"heartbeat-{job_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def run(store: JobStore, config: WebConfig, job_id: str, attempt: int) -> None:
    """Run attempt `attempt` of job `job_id` to its end, recording every outcome in its record.

    Returns without running when the record is gone, already final, or at another attempt
    (a duplicate the site queued again after taking this worker for dead)."""
    record = store.get(job_id)
    if record is None or record.final or record.attempt != attempt:
        log.info("job %s attempt %s: skipped (%s)", job_id, attempt,
                 "gone" if record is None else f"{record.status}, attempt {record.attempt}")
        return
    if store.cancel_requested(job_id):
        store.put(record.updated_with(status="cancelled", finished=time.time()))
        return
    record = record.updated_with(status="running", started=time.time(), iteration=0,
                                 error=None)
    store.put(record)
    log.info("job %s attempt %s: running %s at %d px, %d steps", job_id, attempt,
             record.algorithm, record.size, record.iterations)
    model = None
    try:
        with heartbeat(store, job_id, record.heartbeat_every or config.heartbeat_timeout / 6):
            if record.algorithm == TRAIN:
                # Imported here: it brings Lightning, which only training jobs need.
                from fastnst.web.jobs.training import train_model

                trained = train_model(store, config, record, progress_reporter(store))
                result, model, steps = trained.result, trained.model, trained.steps
            else:
                result, steps = optimise(store, config, record), record.iterations
    except JobSuperseded:
        log.warning("job %s attempt %s: superseded by a newer attempt, stopped", job_id,
                    attempt)
        return
    except JobCancelled:
        store.put(_latest(store, record).updated_with(status="cancelled",
                                                      finished=time.time()))
        log.info("job %s: cancelled", job_id)
        return
    except FastNSTError as err:
        _notify(config, _fail(store, record, str(err)))
        return
    except Exception as err:  # a bug or an exhausted machine: the job fails, the worker lives
        log.error("job %s failed:\n%s", job_id, traceback.format_exc())
        _notify(config, _fail(store, record,
                              f"internal error ({type(err).__name__}: {first_line(err)})"))
        return
    if model is not None:  # before the record says done: a done training job has its model
        store.put_model(job_id, model)
    store.put_image(job_id, "result", encode_image(result, "png"))
    done = _latest(store, record).updated_with(status="done", finished=time.time(),
                                               iteration=steps)
    store.put(done)
    log.info("job %s: done in %.1f s", job_id, done.elapsed())
    _notify(config, done)


def _latest(store: JobStore, record: JobRecord) -> JobRecord:
    return store.get(record.id) or record


def _fail(store: JobStore, record: JobRecord, reason: str) -> JobRecord:
    failed = _latest(store, record).updated_with(status="failed", finished=time.time(),
                                                 error=reason)
    store.put(failed)
    log.info("job %s: failed: %s", record.id, reason)
    return failed


def _notify(config: WebConfig, record: JobRecord) -> None:
    """E-mail the job's outcome when it has an address and the site has SMTP settings."""
    if not (record.email and config.mail_enabled):
        return
    try:
        send_job_mail(config, record)
    except OSError as err:  # smtplib's errors too; the job stands, its page shows it
        log.warning("job %s: e-mail to %s failed: %s", record.id, record.email, err)


def optimise(store: JobStore, config: WebConfig, record: JobRecord) -> Image.Image:
    """The job's result, RGB, long side record.size px."""
    device = resolve_device(config.device)
    images = {}
    for kind in ("content", "style"):
        data = store.image(record.id, kind)
        if data is None:
            raise FastNSTError(f"the job's {kind} image is missing from the queue's storage")
        images[kind] = decode_image(data, kind, config.max_pixels)
    content = to_tensor(resize_long_side(images["content"], record.size)).unsqueeze(0)
    report = progress_reporter(store)

    def on_step(step: int, image: torch.Tensor) -> None:
        report(record, step, image)

    if record.algorithm == "photoreal":
        return _photoreal(content.to(device), images["style"], record, on_step)
    return _artistic(content.to(device), images["style"], record, on_step)


def _artistic(content: torch.Tensor, style_image: Image.Image, record: JobRecord,
              on_step: Callable[[int, torch.Tensor], None]) -> Image.Image:
    """Gatys et al. with fastnst-slow's defaults (VGG19, L-BFGS from the content) and the
    job's steps; the style at fastnst-slow's working size."""
    from fastnst.slow.gatys import transfer_slow
    from fastnst.slow.slow_config import SlowParams

    params = SlowParams(iterations=record.iterations)
    style = to_tensor(resize_long_side(style_image, params.style_size)).unsqueeze(0)
    image, _ = transfer_slow(content, style.to(content.device), params, progress=False,
                             on_step=on_step)
    return to_pil(image.cpu())


def _photoreal(content: torch.Tensor, style_image: Image.Image, record: JobRecord,
               on_step: Callable[[int, torch.Tensor], None]) -> Image.Image:
    """Luan et al. with fastnst-photo's defaults and automatic regions: 2/3 of the steps at
    half size, the rest at full size (fastnst-photo's last level is upsampling only at 4x
    the coarsest; here the output size is optimised too, as users asked for a size)."""
    from fastnst.photoreal.photo_config import PhotoParams
    from fastnst.photoreal.transfer import transfer_photo

    coarse = max(1, round(record.iterations * 2 / 3))
    params = PhotoParams(iterations=(coarse, record.iterations - coarse))
    style = to_tensor(resize_long_side(style_image, params.style_size)).unsqueeze(0)
    result = transfer_photo(content, style.to(content.device), params, progress=False,
                            on_step=on_step)
    return to_pil(result.image)
