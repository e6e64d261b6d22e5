"""The site's job bookkeeping without workers: lost jobs queued again, retries bounded,
stale duplicates skipped, cancellation seen by a running job."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

# Optional where fastnst runs from the tree (the GPU machine has neither): skip, not fail.
pytest.importorskip("fastapi")
pytest.importorskip("huey")

import torch
from PIL import Image

from fastnst.web.config import WebConfig
from fastnst.web.jobs.board import JobBoard
from fastnst.web.jobs.progress import JobCancelled, JobSuperseded, progress_reporter
from fastnst.web.jobs.queue import JobRecord, open_queue
from fastnst.web.jobs.runner import run
from fastnst.web.trained import TrainedModels


@pytest.fixture
def board(tmp_path: Path) -> tuple[JobBoard, list[tuple[str, int]]]:
    config = WebConfig(data_dir=str(tmp_path), heartbeat_timeout=5, job_retries=1)
    calls: list[tuple[str, int]] = []
    huey = open_queue(config.queue_url)
    return JobBoard(config, huey, lambda *args: calls.append(args), TrainedModels(tmp_path)), calls


def submit(board: JobBoard) -> JobRecord:
    image = Image.new("RGB", (32, 24), "grey")
    return board.submit(image, image.copy(), algorithm="artistic", size=32, iterations=10,
                        email="", style_name="s", client="1.2.3.4", owner_token="t" * 43)


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
