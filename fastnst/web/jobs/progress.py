"""What a running job reports: its step and preview after each step, and whether it must stop.

Both kinds of job (the slow optimiser in fastnst.web.jobs.runner, training in
fastnst.web.jobs.training) call the same reporter, so cancelling and superseding work alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from fastnst.core.images import to_pil
from fastnst.web.images import encode_image
from fastnst.web.jobs.queue import JobRecord, JobStore

# Previews are written at most this often (seconds): a JPEG encode and a storage write each.
PREVIEW_EVERY = 2.0


class JobCancelled(Exception):
    """Raised inside the optimiser's step callback when the job's owner cancelled it."""


class JobSuperseded(Exception):
    """Raised inside the step callback when the site has queued the job again (it took this
    worker for dead): the newer attempt owns the record, this one stops without a word."""


def progress_reporter(store: JobStore) -> Callable[[JobRecord, int, torch.Tensor | None], None]:
    """A job's on_step(record, step, image): records the step count in `record` (the run's
    own view of it), writes `image` ((1, 3, H, W) in [0, 1], or None) as the preview at most
    every PREVIEW_EVERY seconds, and raises JobCancelled once the owner has cancelled (or
    JobSuperseded once the site has queued a newer attempt)."""
    last_preview = [0.0]

    def on_step(record: JobRecord, step: int, image: torch.Tensor | None) -> None:
        if store.cancel_requested(record.id):
            raise JobCancelled
        current = store.get(record.id)
        if current is None or current.attempt != record.attempt:
            raise JobSuperseded
        now = time.time()
        has_preview = current.has_preview or last_preview[0] > 0
        if image is not None and now - last_preview[0] >= PREVIEW_EVERY:
            store.put_image(record.id, "preview", encode_image(to_pil(image[:1]), "jpeg"))
            last_preview[0], has_preview = now, True
        store.put(record.updated_with(iteration=min(step, record.iterations),
                                      has_preview=has_preview))

    return on_step
