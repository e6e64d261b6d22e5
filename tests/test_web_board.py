"""The site's job bookkeeping without workers: lost jobs queued again, retries bounded,
stale duplicates skipped, cancellation seen by a running job, and refusals in the board's own
words (no HTTP: the board is a library the web layer uses)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

# Optional where fastnst runs from the tree (the GPU machine has neither): skip, not fail.
pytest.importorskip("fastapi")
pytest.importorskip("huey")

import torch
from PIL import Image

from fastnst.core.errors import FastNSTError
from fastnst.web.jobs.board import JobBoard
from fastnst.web.jobs.errors import (
    JobEnded,
    JobError,
    JobNotFound,
    NotJobOwner,
    QueueFull,
    TooManyJobs,
)
from fastnst.web.jobs.progress import JobCancelled, JobSuperseded, progress_reporter
from fastnst.web.jobs.queue import TRAIN, JobRecord, open_queue
from fastnst.web.jobs.runner import run
from fastnst.web.trained import TrainedModels
from fastnst.web.web_config import WebConfig


@pytest.fixture
def board(tmp_path: Path) -> tuple[JobBoard, list[tuple[str, int]]]:
    config = WebConfig(data_dir=str(tmp_path), heartbeat_timeout=5, job_retries=1)
    calls: list[tuple[str, int]] = []
    huey = open_queue(config.queue_url)
    return JobBoard(config, huey, lambda *args: calls.append(args), TrainedModels(tmp_path)), calls


def submit(board: JobBoard, client: str = "1.2.3.4", owner_token: str = "t" * 43,
           algorithm: str = "artistic") -> JobRecord:
    image = Image.new("RGB", (32, 24), "grey")
    return board.submit(None if algorithm == TRAIN else image, image.copy(),
                        algorithm=algorithm, size=32, iterations=10, email="", style_name="s",
                        client=client, owner_token=owner_token)


def test_a_running_job_whose_heartbeat_stopped_is_queued_again_then_failed(board) -> None:
    board, calls = board
    record = submit(board)
    assert calls == [(record.id, 1)]
    board.store.put(record.updated_with(status="running", started=time.time()))
    board.store.beat(record.id)
    assert board.recover() == []  # alive: a fresh heartbeat
    board.store.huey.put(f"beat:{record.id}", time.time() - 6)  # silent for 6 s > 5 s
    assert board.recover() == [record.id]
    again = board.store.get(record.id)
    assert (again.status, again.attempt, again.iteration) == ("queued", 2, 0)
    assert calls[-1] == (record.id, 2)
    # lost a second time: over --job-retries 1, so it fails and says why
    board.store.put(again.updated_with(status="running"))
    board.store.huey.put(f"beat:{record.id}", time.time() - 6)
    assert board.recover() == []
    failed = board.store.get(record.id)
    assert failed.status == "failed" and "stopped 2 times" in failed.error


def test_restart_takes_every_running_job_as_lost(board) -> None:
    board, calls = board
    record = submit(board)
    board.store.put(record.updated_with(status="running"))
    board.store.beat(record.id)
    assert board.recover(all_running_lost=True) == [record.id]


def test_a_worker_skips_a_stale_attempt_and_a_superseded_run_stops(board) -> None:
    board, _ = board
    record = submit(board)
    board.store.put(record.updated_with(attempt=2))
    run(board.store, board.config, record.id, 1)  # the stale task: must not run
    assert board.store.get(record.id).status == "queued"
    on_step = progress_reporter(board.store)
    running = board.store.get(record.id)
    on_step(running, 1, torch.zeros(1, 3, 8, 8))
    assert board.store.get(record.id).iteration == 1
    board.store.put(board.store.get(record.id).updated_with(attempt=3))
    with pytest.raises(JobSuperseded):
        on_step(running, 2, torch.zeros(1, 3, 8, 8))
    board.store.request_cancel(record.id)
    with pytest.raises(JobCancelled):
        on_step(running, 3, torch.zeros(1, 3, 8, 8))


def test_the_worker_beats_at_the_pace_of_the_site_that_judges_it(board, tmp_path, monkeypatch):
    """A worker started with another --heartbeat-timeout (60 s: a beat every 10 s) than the
    site's (5 s) still beats every 5/6 s, or the site would take a long job for lost."""
    import fastnst.web.jobs.runner as runner

    board, _ = board
    record = submit(board)
    beats: list[float] = []
    real_beat = board.store.beat
    monkeypatch.setattr(board.store, "beat", lambda job_id: (beats.append(time.monotonic()),
                                                             real_beat(job_id)))

    def slow_optimise(store, config, record):
        time.sleep(2.0)
        return Image.new("RGB", (32, 24), "white")

    monkeypatch.setattr(runner, "optimise", slow_optimise)
    run(board.store, WebConfig(data_dir=str(tmp_path / "worker"), heartbeat_timeout=60),
        record.id, 1)
    assert board.store.get(record.id).status == "done"
    assert len(beats) >= 3  # at the start, then about every 0.83 s of the 2 s job
    assert max(b - a for a, b in zip(beats, beats[1:], strict=False)) < 1.5


def test_cancelling_refuses_unknown_ids_strangers_and_ended_jobs(board) -> None:
    board, _ = board
    record = submit(board, owner_token="o" * 43)
    with pytest.raises(JobNotFound, match=r"^no job AAAAAAAAAAAAAAAA$"):
        board.cancel("AAAAAAAAAAAAAAAA", "o" * 43)
    with pytest.raises(JobNotFound, match=r"^no job AAAAAAAAAAAAAAAA$"):
        board.get("AAAAAAAAAAAAAAAA")
    for stranger in ("s" * 43, None):  # another browser's token, or none at all
        with pytest.raises(NotJobOwner) as refused:
            board.cancel(record.id, stranger)
        assert str(refused.value) == "only the person who started this job can cancel it"
    assert board.get(record.id).status == "queued"  # the refusals changed nothing
    assert board.cancel(record.id, "o" * 43).status == "cancelled"
    with pytest.raises(JobEnded) as ended:
        board.cancel(record.id, "o" * 43)
    assert str(ended.value) == "the job has already ended (cancelled)"
    assert ended.value.status == "cancelled"
    # one family, a FastNSTError: a script or the CLI can catch every refusal at once
    assert isinstance(ended.value, JobError) and isinstance(ended.value, FastNSTError)


def test_submitting_refuses_over_the_client_and_queue_limits(tmp_path: Path) -> None:
    config = WebConfig(data_dir=str(tmp_path), jobs_per_client=2, max_queued=3)
    board = JobBoard(config, open_queue(config.queue_url), lambda *args: None,
                     TrainedModels(tmp_path))
    submit(board, algorithm=TRAIN)
    with pytest.raises(TooManyJobs) as training:
        submit(board, algorithm=TRAIN)
    assert str(training.value) == ("you already have a training job queued or running; wait "
                                   "for it to end or cancel it")
    submit(board)
    with pytest.raises(TooManyJobs) as quota:
        submit(board)
    assert str(quota.value) == ("you already have 2 jobs queued or running; wait for one to end "
                                "or cancel one")
    assert quota.value.limit == 2
    submit(board, client="10.0.0.2")
    with pytest.raises(QueueFull, match=r"^the job queue is full; try again later$"):
        submit(board, client="10.0.0.3")
    assert len(board.open_records()) == 3  # nothing refused was queued


def test_the_board_imports_without_fastapi() -> None:
    """The job logic is a library: scripts and workers use it without the HTTP stack."""
    code = ("import sys, fastnst.web.jobs.board; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
