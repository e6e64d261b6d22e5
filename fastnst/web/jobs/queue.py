"""The job queue (Huey) and the job records kept in its storage.

One Huey instance per process, built from the queue URL: SQLite (embedded, a file in the
data folder) or Redis (shared by a site and workers on other machines). Job records, their
input images, previews and results live in the same storage's key-value store, so a worker
anywhere reports to the site through the queue it already talks to, and they survive
restarts as long as the queue's storage does (the SQLite file; Redis with persistence on).

Keys (all values pickled by Huey's serializer): `job:ID` the record (a dict, see JobRecord),
`image:ID:KIND` PNG/JPEG bytes (content, style, preview, result), `model:ID` the model file a
training job made (fastnst's slim checkpoint, bytes), `beat:ID` the last heartbeat of the
worker running it (epoch seconds), `cancel:ID` set when its owner cancels.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey

from fastnst.core.errors import FastNSTError

QUEUE_NAME = "fastnst"
FINAL = ("done", "failed", "cancelled")
# The algorithm of a "train a fast model" job (the others run the slow optimisers).
TRAIN = "train"
IMAGE_KINDS = ("content", "style", "preview", "result")


def open_queue(url: str) -> Huey:
    """A Huey for sqlite:///PATH (file created with its folder) or redis://HOST:PORT/DB.

    As in SQLAlchemy URLs, sqlite:///queue.db is relative and sqlite:////srv/queue.db
    absolute. Results of tasks are not stored by Huey (jobs write their own records)."""
    if url.startswith("sqlite:///"):
        path = Path(url[len("sqlite:///"):])
        path.parent.mkdir(parents=True, exist_ok=True)
        return SqliteHuey(QUEUE_NAME, filename=str(path), results=False)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False)
    raise FastNSTError(f"--queue must be sqlite:///PATH or redis://HOST:PORT/DB, not {url!r}")


@dataclass(frozen=True)
class JobRecord:
    """One custom-style job as the site and its workers see it.

    algorithm: artistic or photoreal (the slow optimisers; size is the output's long side,
    px), or TRAIN (a fast model trained from the style image; size is the training crop, px).
    status: queued, running, done, failed or cancelled. iteration / iterations: optimiser
    steps done and planned. Times are epoch seconds (None until they happen). attempt counts
    runs: the site queues a job again (attempt + 1) when its worker dies, and a worker only
    runs the attempt its task names, so a stale duplicate never runs twice. resumed_from: the
    step a training job's current attempt resumed from (its last checkpoint; 0: from the start).
    heartbeat_every: seconds between the worker's heartbeats, set by the site that submits the
    job and judges them (its --heartbeat-timeout / 6), so a worker started with another
    --heartbeat-timeout cannot look dead to it; 0 (records from before 0.3): the worker's own.
    """

    id: str
    algorithm: str
    size: int
    iterations: int
    client: str
    style_name: str = ""
    email: str = ""
    status: str = "queued"
    iteration: int = 0
    attempt: int = 1
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    updated: float = field(default_factory=time.time)
    has_preview: bool = False
    resumed_from: int = 0
    heartbeat_every: float = 0.0

    @property
    def final(self) -> bool:
        return self.status in FINAL

    @property
    def progress(self) -> float:
        """Steps done over steps planned, 0..1 (1 once done)."""
        if self.status == "done":
            return 1.0
        return min(1.0, self.iteration / self.iterations) if self.iterations else 0.0

    def elapsed(self, now: float | None = None) -> float:
        """Seconds running so far (or in all, once finished); 0 while queued."""
        if self.started is None:
            return 0.0
        return (self.finished or now or time.time()) - self.started

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left at the pace so far, None before the first steps or once finished."""
        if self.status != "running" or self.iteration < 1:
            return None
        elapsed = self.elapsed(now)
        return elapsed / self.iteration * (self.iterations - self.iteration)

    def updated_with(self, **changes: Any) -> JobRecord:
        return replace(self, **changes, updated=time.time())


class JobStore:
    """Job records and their images in the queue's key-value storage."""

    def __init__(self, huey: Huey) -> None:
        self.huey = huey

    def put(self, record: JobRecord) -> None:
        self.huey.put(f"job:{record.id}", asdict(record))

    def get(self, job_id: str) -> JobRecord | None:
        data = self.huey.get(f"job:{job_id}", peek=True)
        return None if data is None else JobRecord(**data)

    def put_image(self, job_id: str, kind: str, data: bytes) -> None:
        assert kind in IMAGE_KINDS
        self.huey.put(f"image:{job_id}:{kind}", data)

    def image(self, job_id: str, kind: str) -> bytes | None:
        assert kind in IMAGE_KINDS
        return self.huey.get(f"image:{job_id}:{kind}", peek=True)

    def put_model(self, job_id: str, data: bytes) -> None:
        self.huey.put(f"model:{job_id}", data)

    def model(self, job_id: str) -> bytes | None:
        """The model file a training job made (slim checkpoint bytes), or None."""
        return self.huey.get(f"model:{job_id}", peek=True)

    def beat(self, job_id: str) -> None:
        """The worker running job_id is alive now."""
        self.huey.put(f"beat:{job_id}", time.time())

    def last_beat(self, job_id: str) -> float | None:
        return self.huey.get(f"beat:{job_id}", peek=True)

    def request_cancel(self, job_id: str) -> None:
        self.huey.put(f"cancel:{job_id}", True)

    def cancel_requested(self, job_id: str) -> bool:
        return bool(self.huey.get(f"cancel:{job_id}", peek=True))
