"""Why the job board (fastnst.web.jobs.board) refuses a request, in the board's own words.

The board is a library that the HTTP layer uses, so it raises these and knows nothing of
HTTP: the web app maps each class to its status in one place (fastnst.web.app, JOB_ERROR_STATUS)
and answers with the message as it is, `{"detail": str(err)}`. Each message is one line a
site visitor can act on.
"""

from __future__ import annotations

from fastnst.core.errors import FastNSTError


class JobError(FastNSTError):
    """The board refused a request about a job; `str()` says why, for the person asking."""


class TooManyJobs(JobError):
    """The client already has as many open (queued or running) jobs as it may: `limit` jobs
    in all, or, when `training`, a training job (one at a time: each takes a worker for up
    to --train-minutes)."""

    def __init__(self, limit: int, *, training: bool = False) -> None:
        if training:
            message = ("you already have a training job queued or running; wait for it to "
                       "end or cancel it")
        else:
            message = (f"you already have {limit} jobs queued or running; wait for one to end "
                       "or cancel one")
        super().__init__(message)
        self.limit = limit
        self.training = training


class QueueFull(JobError):
    """The queue holds --max-queued waiting jobs already, from all clients together."""

    def __init__(self, limit: int) -> None:
        super().__init__("the job queue is full; try again later")
        self.limit = limit


class JobNotFound(JobError):
    """No job has the id `job_id` (never submitted, or its record is gone)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no job {job_id}")
        self.job_id = job_id


class NotJobOwner(JobError):
    """Someone other than the person who started the job asked to cancel it."""

    def __init__(self, job_id: str) -> None:
        super().__init__("only the person who started this job can cancel it")
        self.job_id = job_id


class JobEnded(JobError):
    """The job has already ended (`status`: done, failed or cancelled), so it cannot be
    cancelled."""

    def __init__(self, job_id: str, status: str) -> None:
        super().__init__(f"the job has already ended ({status})")
        self.job_id = job_id
        self.status = status
