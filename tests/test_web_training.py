"""Training jobs ("train a fast model") on a miniature setting: the debug recipe, a few steps
at 32 px crops, no warm start. The site runs in this process (FastAPI's test client) and
jobs either here (the worker's own function, jobs.run) or on `fastnst-web worker` processes,
one of them killed with SIGKILL mid-training. The browser path is in
tests/test_web_browser.py."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("huey")

from fastapi.testclient import TestClient
from PIL import Image

from fastnst.web.app import create_app
from fastnst.web.jobs.runner import run
from fastnst.web.mail import job_mail
from fastnst.web.web_config import WebConfig
from tests.conftest import ASSETS, CONTENT
from tests.web_server import stop

PAINTING = ASSETS / "styles" / "candy.jpg"
# The site's caps that make a training job a few seconds on a CPU.
MINIATURE = {"train_config": "debug", "train_steps": 3, "train_size": 32}
MINIATURE_FLAGS = ("--train-config", "debug", "--train-size", "32")
SAME_ORIGIN = {"Origin": "http://testserver"}


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    config = WebConfig(data_dir=str(tmp_path / "data"), workers=0,  # type: ignore[arg-type]
                       stylize_per_minute=1000, **{**MINIATURE, **settings})
    return TestClient(create_app(config, start_workers=False), headers=SAME_ORIGIN)


def submit(client: TestClient, data: bytes | None = None, **fields: str) -> httpx.Response:
    return client.post("/api/jobs/train", data=fields,
                       files={"style": ("my candy.jpg", data or PAINTING.read_bytes(),
                                        "image/jpeg")})


def run_queued(client: TestClient, job_id: str) -> dict[str, object]:
    """Run the job's first attempt here, as a worker would; returns its status."""
    site = client.app.state.site  # type: ignore[attr-defined]
    run(site.board.store, site.config, job_id, 1)
    return client.get(f"/api/jobs/{job_id}").json()  # type: ignore[no-any-return]


def stylize(client: TestClient, style: str) -> httpx.Response:
    return client.post("/api/stylize", data={"style": style},
                       files={"image": ("photo.jpg", CONTENT.read_bytes(), "image/jpeg")})


def style_names(client: TestClient) -> list[str]:
    return [style["name"] for style in client.get("/api/styles").json()]


def test_a_trained_model_is_its_owners_until_shared(tmp_path: Path) -> None:
    owner = make_client(tmp_path)
    stranger = TestClient(owner.app, headers=SAME_ORIGIN)
    created = submit(owner)
    assert created.status_code == 201, created.text
    job_id = created.json()["id"]
    again = submit(owner)
    assert again.status_code == 429
    assert again.json() == {"detail": "you already have a training job queued or running; "
                                      "wait for it to end or cancel it"}

    done = run_queued(owner, job_id)
    assert (done["status"], done["algorithm"], done["iteration"], done["iterations"],
            done["progress"]) == ("done", "train", 3, 3, 1.0)
    assert (done["size"], done["resumed_from"], done["error"]) == (32, 0, None)
    assert done["preview_url"] == f"/api/jobs/{job_id}/preview.jpg"
    assert owner.get(str(done["preview_url"])).headers["content-type"] == "image/jpeg"
    name = f"trained-{job_id}"
    assert done["model"] == name
    result = owner.get(str(done["result_url"]))
    assert Image.open(io.BytesIO(result.content)).size == (512, 341)  # chicago, stylized
    site = owner.app.state.site  # type: ignore[attr-defined]
    mail = job_mail(site.config, site.board.get(job_id).updated_with(email="ada@example.com"))
    assert mail["Subject"] == "Your fastnst training job is done"
    assert "Your model is ready" in mail.get_content()
    assert f"/jobs/{job_id}" in mail.get_content()

    # The owner's: listed after the site's styles, with its painting's thumbnail, and used.
    assert style_names(owner)[-1] == name
    styles = owner.get("/api/styles").json()
    assert styles[-1]["title"] == "my candy"
    thumb = owner.get(styles[-1]["thumbnail_url"])
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256
    stylized = stylize(owner, name)
    assert stylized.status_code == 200
    assert Image.open(io.BytesIO(stylized.content)).size == (512, 341)
    page = owner.get("/")
    assert f'value="{name}" checked' not in page.text and f'value="{name}"' in page.text
    assert f'value="{name}" checked' in owner.get(f"/?style={name}").text
    assert f'<option value="{name}"' in owner.get("/camera").text
    # No one else's yet: not listed, refused, and only its owner may share it.
    assert name not in style_names(stranger)
    assert stylize(stranger, name).json() == {
        "detail": f"unknown style '{name}'; see /api/styles"}
    assert stranger.get(styles[-1]["thumbnail_url"]).status_code == 404
    refused = stranger.post("/api/gallery", data={"job_id": job_id})
    assert refused.status_code == 403
    assert refused.json() == {"detail": "only the person who trained this model can share it"}

    shared = owner.post("/api/gallery", data={"job_id": job_id, "caption": "my model"})
    assert shared.status_code == 201
    assert name in style_names(stranger)
    assert stylize(stranger, name).status_code == 200
    owner.delete(f"/api/gallery/{shared.json()['id']}")
    assert name not in style_names(stranger)
    assert name in style_names(owner)
    assert submit(owner).status_code == 201  # the first training job has ended


def test_bad_paintings_and_settings_get_one_line_and_lose_no_job(tmp_path: Path) -> None:
    client = make_client(tmp_path, train_upload_mb=0.05, train_data=str(tmp_path / "none"))
    cases = {b"not an image": (400, "style: uploaded file"),
             PAINTING.read_bytes(): (413, "style: the painting is over the training limit "
                                          "of 0.05 MB")}
    for data, (code, start) in cases.items():
        response = submit(client, data)
        assert response.status_code == code
        assert response.json()["detail"].startswith(start), response.text
    assert submit(client, PAINTING.read_bytes()[:40_000], email="not-an-address").json() == {
        "detail": "not an e-mail address: 'not-an-address'"}

    small = io.BytesIO()
    Image.open(PAINTING).resize((120, 90)).save(small, "JPEG")
    job_id = submit(client, small.getvalue()).json()["id"]
    failed = run_queued(client, job_id)
    assert failed["status"] == "failed"
    assert str(tmp_path / "none") in str(failed["error"])
    assert "Traceback" not in str(failed["error"]) and failed["model"] is None
    assert f"trained-{job_id}" not in style_names(client)


def start_worker(data: Path, *flags: str) -> subprocess.Popen[bytes]:
    """`fastnst-web worker` on the site's data folder (so on its SQLite queue) with the
    miniature training caps."""
    return subprocess.Popen([sys.executable, "-m", "fastnst.web", "worker", "--data-dir",
                             str(data), "--workers", "1", "--heartbeat-timeout", "2",
                             *MINIATURE_FLAGS, *flags],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "OMP_NUM_THREADS": "1"})


@pytest.mark.slow
def test_a_killed_worker_resumes_the_training_job_from_its_last_checkpoint(
        tmp_path: Path) -> None:
    owner = make_client(tmp_path, heartbeat_timeout=2)
    site = owner.app.state.site  # type: ignore[attr-defined]
    job_id = submit(owner).json()["id"]
    # Far more steps than the test waits for: killed long before the end.
    worker = start_worker(site.config.data_path, "--train-steps", "400")
    try:
        deadline = time.monotonic() + 180
        # The debug recipe checkpoints every 2 steps: past step 3, step 2's is on disk.
        while owner.get(f"/api/jobs/{job_id}").json()["iteration"] < 3:
            assert worker.poll() is None and time.monotonic() < deadline, "no step 3"
            time.sleep(0.2)
    finally:
        stop(worker, signal.SIGKILL)
    # The site sees the heartbeat stop and queues the job again, as its own loop would.
    deadline = time.monotonic() + 30
    while site.board.recover() != [job_id]:
        assert time.monotonic() < deadline, "the lost job was not queued again"
        time.sleep(0.5)
    # A 3 s cap for the new worker: the resumed run trains on until then (Lightning's timer
    # counts the time before the kill too) and keeps its model.
    worker = start_worker(site.config.data_path, "--train-steps", "400",
                          "--train-minutes", "0.05")
    try:
        deadline = time.monotonic() + 180
        while (done := owner.get(f"/api/jobs/{job_id}").json())["status"] in ("queued",
                                                                                "running"):
            assert worker.poll() is None and time.monotonic() < deadline, "not done"
            time.sleep(0.3)
    finally:
        stop(worker)
    assert done["status"] == "done", done
    assert done["resumed_from"] >= 2
    assert done["iteration"] >= done["resumed_from"]
    assert style_names(owner)[-1] == done["model"] == f"trained-{job_id}"
    assert stylize(owner, f"trained-{job_id}").status_code == 200
