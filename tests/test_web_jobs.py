"""Custom-style jobs on real processes: the site's own worker, a Redis queue with a separate
worker process, a site killed with SIGKILL in the middle of a job, failures, cancelling and
the e-mail at the end."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

# The site these tests start needs the web packages, optional where fastnst runs from the
# tree (the GPU machine has none): skip, not fail.
pytest.importorskip("fastapi")
pytest.importorskip("huey")

from PIL import Image

from tests.conftest import CONTENT, STYLE
from tests.web_server import redis_server, start_web, stop, wait_for_job, web_server


def submit(base: str, client: httpx.Client | None = None, content: bytes | None = None,
           **fields: str) -> str:
    files = {"content": ("c.jpg", content or CONTENT.read_bytes(), "image/jpeg"),
             "style": ("candy.jpg", STYLE.read_bytes(), "image/jpeg")}
    response = (client or httpx).post(f"{base}/api/jobs", files=files,  # type: ignore[union-attr]
                                      data={"size": "64", "iterations": "8", **fields},
                                      timeout=30)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def result_size(base: str, job_id: str) -> tuple[int, int]:
    response = httpx.get(f"{base}/api/jobs/{job_id}/result.png", timeout=10)
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content)).size


@pytest.mark.slow
def test_embedded_worker_runs_jobs_fails_them_readably_and_cancels(tmp_path: Path) -> None:
    with web_server(tmp_path / "data", "--workers", "1") as base:
        done_id = submit(base)
        wide = io.BytesIO()
        Image.new("RGB", (640, 40), "white").save(wide, "PNG")
        failing_id = submit(base, content=wide.getvalue(), algorithm="photoreal",
                            iterations="2")
        done = wait_for_job(base, done_id)
        assert (done["status"], done["progress"], done["iteration"]) == ("done", 1.0, 8)
        assert result_size(base, done_id) == (64, 43)  # chicago 512x341 at long side 64
        failed = wait_for_job(base, failing_id)
        assert failed["status"] == "failed"
        assert "under 16 px" in str(failed["error"]) and "Traceback" not in str(failed["error"])

        with httpx.Client() as owner:
            long_id = submit(base, owner, iterations="1000", size="256")
            wait_for_job(base, long_id, ("running",))
            assert owner.delete(f"{base}/api/jobs/{long_id}").status_code == 200
            cancelled = wait_for_job(base, long_id, timeout=60)
        assert cancelled["status"] == "cancelled"
        assert cancelled["iteration"] < 1000


@pytest.mark.slow
def test_a_killed_site_finishes_its_job_after_restart_and_keeps_the_gallery(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    process, base = start_web(data, "--workers", "1")
    try:
        shared = httpx.post(f"{base}/api/gallery", timeout=30,
                            files={"image": ("a.jpg", CONTENT.read_bytes(), "image/jpeg")},
                            data={"caption": "kept"}).json()["id"]
        job_id = submit(base, iterations="60", size="96")
        running = wait_for_job(base, job_id, ("running",))
        assert running["status"] == "running"
    finally:
        stop(process, signal.SIGKILL)  # the site dies; its worker dies with it
    time.sleep(1)
    with web_server(data, "--workers", "1") as base:
        done = wait_for_job(base, job_id, timeout=180)
        assert done["status"] == "done"
        assert result_size(base, job_id) == (96, 64)
        items = httpx.get(f"{base}/api/gallery").json()["items"]
        assert [(item["id"], item["caption"]) for item in items] == [(shared, "kept")]


@pytest.mark.slow
def test_redis_queue_with_a_separate_worker_process(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url, \
            web_server(tmp_path / "site", "--queue", url, "--workers", "0") as base:
        job_id = submit(base)
        time.sleep(1)
        assert httpx.get(f"{base}/api/jobs/{job_id}").json()["status"] == "queued"
        # The worker keeps the default --heartbeat-timeout (30 s) against the site's 3 s: it
        # beats at the pace the job's record asks for, so a slow job is not taken for lost.
        worker = subprocess.Popen([sys.executable, "-m", "fastnst.web", "worker", "--queue",
                                   url, "--workers", "1", "--data-dir",
                                   str(tmp_path / "elsewhere")],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            done = wait_for_job(base, job_id, timeout=120)
        finally:
            stop(worker)
        assert done["status"] == "done", done.get("error")
        assert result_size(base, job_id) == (64, 43)


def test_job_end_is_emailed_through_smtp(tmp_path: Path) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    from aiosmtpd.handlers import Message

    received = []

    class Collect(Message):
        def handle_message(self, message) -> None:  # type: ignore[no-untyped-def]
            received.append(message)

    from tests.web_server import free_port

    controller = aiosmtpd.Controller(Collect(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        with web_server(tmp_path / "data", "--workers", "1", "--smtp-host", "127.0.0.1",
                        "--smtp-port", str(controller.port), "--no-smtp-starttls",
                        "--public-url", "https://art.example") as base:
            job_id = submit(base, email="ada@example.com")
            assert wait_for_job(base, job_id)["status"] == "done"
            deadline = time.monotonic() + 20
            while not received and time.monotonic() < deadline:
                time.sleep(0.2)
    finally:
        controller.stop()
    assert len(received) == 1
    message = received[0]
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Your fastnst artistic job is done"
    assert f"https://art.example/jobs/{job_id}" in message.get_payload()
