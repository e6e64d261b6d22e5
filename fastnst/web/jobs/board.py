"""The site's side of custom-style jobs: submitting, describing, cancelling, taking back
jobs whose worker died, and filing the models that training jobs made (fastnst.web.trained).

Workers write job records into the queue's storage (fastnst.web.jobs.queue); the site keeps its
own index, DATA_DIR/jobs.sqlite3, of which jobs it submitted, for whom, and which are still
open, so it can count a client's jobs, give queue positions and find lost jobs without
reading every record in the queue.

Refusals are fastnst.web.jobs.errors exceptions, in the board's own words: the board knows
nothing of HTTP (the web app gives each its status), so scripts and tests can use it alone.
"""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

from huey import Huey
from PIL import Image

from fastnst.web.gallery import new_id, token_hash
from fastnst.web.images import encode_image
from fastnst.web.jobs.errors import JobEnded, JobNotFound, NotJobOwner, QueueFull, TooManyJobs
from fastnst.web.jobs.queue import TRAIN, JobRecord, JobStore
from fastnst.web.trained import NAME_PREFIX, TrainedModels
from fastnst.web.web_config import WebConfig

log = logging.getLogger(__name__)
# Style images are kept at most this large (px, long side): the optimisers use 512 px.
STYLE_SIDE = 1024
THUMB_SIDE = 256  # px, a trained model's style thumbnail (as the shipped styles')


class JobBoard:
    """Submits jobs to the queue and answers for them (thread-safe)."""

    def __init__(self, config: WebConfig, huey: Huey, task: Callable[..., object],
                 trained: TrainedModels) -> None:
        self.config = config
        self.huey = huey
        self.task = task
        self.trained = trained
        self.store = JobStore(huey)
        self.db_path = Path(config.data_dir) / "jobs.sqlite3"
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, owner_hash TEXT, "
                       "client TEXT, created REAL, open INTEGER)")

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db_path, timeout=30)

    def _open_jobs(self) -> list[tuple[str, str]]:
        """(id, owner_hash) of the jobs not known to be final, oldest first."""
        with self._connect() as db:
            return db.execute("SELECT id, owner_hash FROM jobs WHERE open = 1 "
                              "ORDER BY created").fetchall()

    def _close(self, job_id: str) -> None:
        with self._connect() as db:
            db.execute("UPDATE jobs SET open = 0 WHERE id = ?", (job_id,))

    def open_records(self) -> list[JobRecord]:
        """Records of the open jobs, oldest first; those found final are closed in the index."""
        records = []
        for job_id, owner_hash in self._open_jobs():
            record = self.store.get(job_id)
            if record is None or record.final:
                if record is not None:
                    self._file_model(record, owner_hash)
                self._close(job_id)
            else:
                records.append(record)
        return records

    def _file_model(self, record: JobRecord, owner_hash: str) -> None:
        """Offer a finished training job's model to its owner (once; the model and its style
        image stay in the queue's storage too, as every job's outputs do)."""
        if record.algorithm != TRAIN or record.status != "done":
            return
        model, style = self.store.model(record.id), self.store.image(record.id, "style")
        if model is None or style is None:
            log.error("job %s: done without its model in the queue's storage", record.id)
            return
        with Image.open(io.BytesIO(style)) as picture:
            thumb = picture.convert("RGB")
        thumb.thumbnail((THUMB_SIDE, THUMB_SIDE), Image.Resampling.LANCZOS)
        self.trained.add(record.id, record.style_name, owner_hash, model,
                         encode_image(thumb, "jpeg", 85))

    def submit(self, content: Image.Image | None, style: Image.Image, *, algorithm: str,
               size: int, iterations: int, email: str, style_name: str, client: str,
               owner_token: str) -> JobRecord:
        """Queue a job. content (None for a training job) is stored at the output size,
        style at most STYLE_SIDE px.

        Raises TooManyJobs when the client has config.jobs_per_client jobs open (or, for a
        training job, a training job open already), QueueFull when config.max_queued jobs
        wait already."""
        with self._lock:  # the counts and the insert are one step, or two requests pass both
            records = self.open_records()
            mine = [r for r in records if r.client == client]
            if algorithm == TRAIN and any(r.algorithm == TRAIN for r in mine):
                raise TooManyJobs(1, training=True)
            if len(mine) >= self.config.jobs_per_client:
                raise TooManyJobs(self.config.jobs_per_client)
            if sum(r.status == "queued" for r in records) >= self.config.max_queued:
                raise QueueFull(self.config.max_queued)
            record = JobRecord(id=new_id(), algorithm=algorithm, size=size,
                               iterations=iterations, client=client, style_name=style_name,
                               email=email, heartbeat_every=self.config.heartbeat_timeout / 6)
            style.thumbnail((STYLE_SIDE, STYLE_SIDE), Image.Resampling.LANCZOS)
            if content is not None:
                content.thumbnail((size, size), Image.Resampling.LANCZOS)
                self.store.put_image(record.id, "content", encode_image(content, "png"))
            self.store.put_image(record.id, "style", encode_image(style, "png"))
            self.store.put(record)
            with self._connect() as db:
                db.execute("INSERT INTO jobs VALUES (?, ?, ?, ?, 1)",
                           (record.id, token_hash(owner_token), client, record.created))
        self.task(record.id, record.attempt)
        log.info("job %s queued: %s, %d px, %d steps", record.id, algorithm, size, iterations)
        return record

    def _owner_hash(self, job_id: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT owner_hash FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return None if row is None else str(row[0])

    def owned_by(self, job_id: str, owner_token: str | None) -> bool:
        owner_hash = self._owner_hash(job_id)
        return bool(owner_hash and owner_token and owner_hash == token_hash(owner_token))

    def get(self, job_id: str) -> JobRecord:
        """The job's record; JobNotFound when there is none. A training job seen done has
        its model filed first, so its page and the stylize page agree at once."""
        record = self.store.get(job_id)
        if record is None:
            raise JobNotFound(job_id)
        if (record.algorithm == TRAIN and record.status == "done"
                and self.trained.get(NAME_PREFIX + job_id) is None):
            self._file_model(record, self._owner_hash(job_id) or "")
        return record

    def queue_position(self, record: JobRecord) -> int | None:
        """1 for the next job to run, ...; None unless queued."""
        if record.status != "queued":
            return None
        queued = [r.id for r in self.open_records() if r.status == "queued"]
        return queued.index(record.id) + 1 if record.id in queued else None

    def cancel(self, job_id: str, owner_token: str | None) -> JobRecord:
        """Cancel the owner's job: at once when queued, at the worker's next step when
        running. Raises JobNotFound for an unknown id, NotJobOwner for anyone else, JobEnded
        when it has already ended."""
        record = self.get(job_id)
        if not self.owned_by(job_id, owner_token):
            raise NotJobOwner(job_id)
        if record.final:
            raise JobEnded(job_id, record.status)
        self.store.request_cancel(job_id)
        if record.status == "queued":
            record = record.updated_with(status="cancelled", finished=time.time())
            self.store.put(record)
            self._close(job_id)
        return record

    def recover(self, all_running_lost: bool = False) -> list[str]:
        """Queue again the jobs whose worker died; returns their ids.

        Lost: running with no heartbeat for config.heartbeat_timeout seconds (or at all,
        when all_running_lost: the site's own workers were just started, so no one runs
        them), or queued that long with no task in the queue. A job lost more than
        config.job_retries times fails with that reason instead.
        """
        now = time.time()
        timeout = self.config.heartbeat_timeout
        pending = None
        requeued = []
        for record in self.open_records():
            if record.status == "running":
                beat = self.store.last_beat(record.id) or record.updated
                if not all_running_lost and now - beat < timeout:
                    continue
            elif now - record.updated < timeout:
                continue
            else:
                if pending is None:
                    pending = {tuple(task.args) for task in self.huey.pending()}
                if (record.id, record.attempt) in pending:
                    continue
            if record.attempt > self.config.job_retries:
                self.store.put(record.updated_with(
                    status="failed", finished=now,
                    error=f"its worker stopped {record.attempt} times (killed or out of "
                          "memory); not retried again"))
                continue
            again = record.updated_with(status="queued", attempt=record.attempt + 1,
                                        iteration=0, started=None)
            self.store.put(again)
            self.task(again.id, again.attempt)
            requeued.append(record.id)
            log.warning("job %s: worker lost (%s), queued again as attempt %d", record.id,
                        record.status, again.attempt)
        return requeued
