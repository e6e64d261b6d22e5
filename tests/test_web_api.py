"""The web site's JSON API and pages through FastAPI's test client: results, limits, bad input
and security. Jobs are queued here but not run (tests/test_web_jobs.py runs real workers)."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# The web site's packages are optional where fastnst runs from the tree (the GPU machine has
# none): skip this file there instead of failing the whole run's collection.
pytest.importorskip("fastapi")
pytest.importorskip("huey")

from fastapi.testclient import TestClient
from PIL import Image

from fastnst.inference.stylizer import Stylizer
from fastnst.web.app import create_app
from fastnst.web.web_config import WebConfig
from tests.conftest import CONTENT, STYLE
from tests.image_cases import make_huge_header_png, make_truncated

SAME_ORIGIN = {"Origin": "http://testserver"}


def png_bytes(width: int = 96, height: int = 64, seed: int = 0) -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    config = WebConfig(data_dir=str(tmp_path / "data"), workers=0, **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, start_workers=False))


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return make_client(tmp_path, max_side=80, stylize_per_minute=1000)


def stylize(client: TestClient, data: bytes, **fields: str):  # type: ignore[no-untyped-def]
    return client.post("/api/stylize", files={"image": ("photo.png", data, "image/png")},
                       data={"style": "starry_night", **fields})


def share(client: TestClient, caption: str = "", **cookies: str):  # type: ignore[no-untyped-def]
    return client.post("/api/gallery", files={"image": ("x.png", png_bytes(), "image/png")},
                       data={"caption": caption, "style": "starry_night"})


def test_styles_lists_the_shipped_model_with_a_thumbnail(client: TestClient) -> None:
    styles = client.get("/api/styles").json()
    # The 8 styles each by its own name (starry_night is its own file, the GPU-trained one;
    # the others are the shipped multi-style model's), the multi-style model's starry_night
    # under its file's name, and the same eight at width 0.5 under theirs.
    eight = ["candy", "composition_vii", "la_muse", "mosaic", "starry_night", "the_scream",
             "udnie", "wave"]
    assert sorted(s["name"] for s in styles) == sorted(
        [*eight, "paintings:starry_night", *(f"paintings_w05:{style}" for style in eight)])
    assert all(s["thumbnail_url"] for s in styles)
    thumb = client.get(styles[0]["thumbnail_url"])
    assert thumb.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 256


def test_stylize_downscales_to_max_side_and_strength_zero_is_the_photo(
        client: TestClient) -> None:
    photo = png_bytes(160, 120)
    full = stylize(client, photo)
    assert full.status_code == 200 and full.headers["content-type"] == "image/png"
    result = np.asarray(Image.open(io.BytesIO(full.content)), dtype=np.float64)
    assert result.shape == (60, 80, 3)  # 160x120 -> long side --max-side 80
    none = stylize(client, photo, strength="0")
    unstyled = np.asarray(Image.open(io.BytesIO(none.content)), dtype=np.float64)
    expected = np.asarray(Image.open(io.BytesIO(photo)).resize((80, 60), Image.LANCZOS),
                          dtype=np.float64)
    assert np.abs(unstyled - expected).max() <= 1  # the downscaled photo itself
    assert np.abs(result - expected).mean() > 20  # the model really changed it
    smaller = stylize(client, photo, max_size="40")
    assert Image.open(io.BytesIO(smaller.content)).size == (40, 30)


@pytest.mark.parametrize(("name", "message"), [
    ("text", "not an image file"), ("empty", "empty file, 0 bytes"),
    ("truncated", "cannot read image"), ("bomb", "over the limit of")])
def test_bad_images_get_400_with_a_reason(client: TestClient, tmp_path: Path, name: str,
                                          message: str) -> None:
    data = {"text": b"hello, not a picture",
            "empty": b"",
            "truncated": make_truncated(tmp_path).read_bytes(),
            "bomb": make_huge_header_png(tmp_path).read_bytes()}[name]
    before = Image.MAX_IMAGE_PIXELS
    response = stylize(client, data)
    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert "\n" not in response.json()["detail"]
    assert Image.MAX_IMAGE_PIXELS == before  # the limit is per call, never process-wide


def test_request_over_the_upload_limit_is_413(tmp_path: Path) -> None:
    client = make_client(tmp_path, max_upload_mb=0.05)
    response = stylize(client, png_bytes(256, 256))  # ~197 KB of noise
    assert response.status_code == 413
    assert "over the limit of 0.05 MB" in response.json()["detail"]

    def chunks():  # no Content-Length: the limit must hold while the body streams in
        for _ in range(100):
            yield b"x" * 1000

    streamed = client.post("/api/stylize", content=chunks(),
                           headers={"content-type": "multipart/form-data; boundary=b"})
    assert streamed.status_code == 413
    assert "over the limit" in streamed.json()["detail"]


def test_bad_fields_are_one_line_json_errors(client: TestClient) -> None:
    unknown = client.post("/api/stylize", files={"image": ("a.png", png_bytes())},
                          data={"style": "../../etc/passwd"})
    assert unknown.status_code == 400 and "unknown style" in unknown.json()["detail"]
    strong = stylize(client, png_bytes(), strength="2")
    assert strong.status_code == 422
    assert strong.json()["detail"].startswith("strength:")
    missing = client.post("/api/stylize", data={"style": "starry_night"})
    assert missing.status_code == 422 and "image" in missing.json()["detail"]


def test_stylize_rate_limit_per_client(tmp_path: Path) -> None:
    client = make_client(tmp_path, max_side=32, stylize_per_minute=2)
    assert [stylize(client, png_bytes()).status_code for _ in range(2)] == [200, 200]
    third = stylize(client, png_bytes())
    assert third.status_code == 429
    assert 1 <= int(third.headers["retry-after"]) <= 60


def test_gallery_share_list_and_owner_only_delete(client: TestClient, tmp_path: Path) -> None:
    caption = "<script>alert(1)</script> & friends"
    created = client.post("/api/gallery", files={"image": ("../../evil.png", png_bytes())},
                          data={"caption": caption, "style": "starry_night"})
    assert created.status_code == 201
    item_id = created.json()["id"]
    token = client.cookies["fastnst_owner"]
    assert len(token) == 43
    # stored under a random id, whatever the client called the file
    files = sorted(p.name for p in (tmp_path / "data" / "gallery").iterdir())
    assert files == [f"{item_id}.png", f"{item_id}.thumb.jpg"]
    listed = client.get("/api/gallery").json()
    assert [(i["id"], i["caption"], i["owned"]) for i in listed["items"]] == [
        (item_id, caption, True)]
    page = client.get("/gallery").text
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; friends" in page
    image = client.get(listed["items"][0]["image_url"])
    assert Image.open(io.BytesIO(image.content)).size == (96, 64)

    stranger = TestClient(client.app)
    assert stranger.delete(f"/api/gallery/{item_id}").status_code == 403
    stranger.cookies.set("fastnst_owner", "A" * 43)
    assert stranger.delete(f"/api/gallery/{item_id}").status_code == 403
    assert client.delete(f"/api/gallery/{item_id}").json() == {"deleted": item_id}
    assert client.get("/api/gallery").json()["items"] == []
    assert list((tmp_path / "data" / "gallery").iterdir()) == []


def test_gallery_pages_newest_first(tmp_path: Path) -> None:
    client = make_client(tmp_path, gallery_page_size=2)
    ids = [share(client, caption=f"n{i}").json()["id"] for i in range(3)]
    first, second = (client.get(f"/api/gallery?page={n}").json() for n in (1, 2))
    assert [i["id"] for i in first["items"]] == [ids[2], ids[1]] and first["has_next"]
    assert [i["id"] for i in second["items"]] == [ids[0]] and not second["has_next"]


@pytest.mark.parametrize("path", [
    "/media/gallery/..%2F..%2Fgallery.sqlite3", "/media/gallery/..%2Fjobs.sqlite3.png",
    "/api/jobs/..%2F..%2Fetc%2Fpasswd", "/api/jobs/AAAAAAAAAAAAAAAA/..%2Fresult.png",
    "/jobs/..%2F..%2Fetc%2Fpasswd", "/static/..%2F..%2Fweb%2Fapp.py",
    "/static-assets/content/..%2F..%2F..%2Fcli%2Fweb.py"])
def test_no_path_traversal(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert b"sqlite" not in response.content[:16] and b"import" not in response.content


def test_cross_site_posts_are_refused_and_headers_are_set(client: TestClient) -> None:
    evil = client.post("/api/gallery", headers={"Origin": "https://evil.example"},
                       files={"image": ("x.png", png_bytes())})
    assert evil.status_code == 403 and evil.json() == {"detail": "cross-site request refused"}
    fetch_meta = client.delete("/api/gallery/AAAAAAAAAAAAAAAA",
                               headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch_meta.status_code == 403
    same = client.post("/api/gallery", headers=SAME_ORIGIN,
                       files={"image": ("x.png", png_bytes())})
    assert same.status_code == 201
    assert "samesite=strict" in same.headers["set-cookie"].lower()
    assert "httponly" in same.headers["set-cookie"].lower()
    for path in ("/", "/gallery", "/api/styles"):
        headers = client.get(path).headers
        assert "script-src 'self';" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
    docs = client.get("/docs")
    assert "script-src 'self' 'sha256-" in docs.headers["content-security-policy"]
    assert "cdn" not in docs.text


def test_pages_render_and_unknown_pages_are_html_404(client: TestClient) -> None:
    for path, marker in (("/", 'id="stylize-button"'), ("/custom", 'id="job-form"'),
                         ("/gallery", 'id="gallery-grid"'), ("/camera", 'id="camera-start"'),
                         ("/about", "Gatys")):
        response = client.get(path)
        assert response.status_code == 200 and marker in response.text, path
    assert 'value="starry_night"' in client.get("/").text
    missing = client.get("/jobs/AAAAAAAAAAAAAAAA", headers={"Accept": "text/html"})
    assert missing.status_code == 404 and "<html" in missing.text
    api_missing = client.get("/api/jobs/AAAAAAAAAAAAAAAA")
    assert api_missing.json() == {"detail": "no job AAAAAAAAAAAAAAAA"}


def job_files() -> dict[str, tuple[str, bytes, str]]:
    return {"content": ("c.jpg", CONTENT.read_bytes(), "image/jpeg"),
            "style": ("My Style.jpg", STYLE.read_bytes(), "image/jpeg")}


def test_jobs_queue_with_limits_positions_and_owner_cancel(tmp_path: Path) -> None:
    client = make_client(tmp_path, jobs_per_client=2, max_queued=2)
    first = client.post("/api/jobs", files=job_files(), data={"size": "128"})
    assert first.status_code == 201
    job_id = first.json()["id"]
    status = client.get(f"/api/jobs/{job_id}").json()
    assert (status["status"], status["queue_position"], status["iterations"], status["size"]) \
        == ("queued", 1, 300, 128)
    second = client.post("/api/jobs", files=job_files(),
                         data={"algorithm": "photoreal", "iterations": "30"}).json()
    assert client.get(f"/api/jobs/{second['id']}").json()["queue_position"] == 2
    third = client.post("/api/jobs", files=job_files())
    assert (third.status_code, third.json()) == (429, {
        "detail": "you already have 2 jobs queued or running; wait for one to end or cancel "
                  "one"})

    # the board's refusals (fastnst.web.jobs.errors) as statuses with their one-line detail
    missing = client.delete("/api/jobs/AAAAAAAAAAAAAAAA")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no job AAAAAAAAAAAAAAAA"})
    stranger = TestClient(client.app).delete(f"/api/jobs/{job_id}")
    assert (stranger.status_code, stranger.json()) == (403, {
        "detail": "only the person who started this job can cancel it"})
    cancelled = client.delete(f"/api/jobs/{job_id}").json()
    assert cancelled["status"] == "cancelled"
    assert client.get(f"/api/jobs/{second['id']}").json()["queue_position"] == 1
    again = client.delete(f"/api/jobs/{job_id}")
    assert (again.status_code, again.json()) == (409, {
        "detail": "the job has already ended (cancelled)"})
    # the queue bound holds for everyone: another client fills it, then the queue is full
    other = TestClient(client.app, client=("10.0.0.2", 1234))
    assert other.post("/api/jobs", files=job_files()).status_code == 201
    full = TestClient(client.app, client=("10.0.0.3", 1234)).post("/api/jobs",
                                                                  files=job_files())
    assert (full.status_code, full.json()) == (503, {
        "detail": "the job queue is full; try again later"})


def test_every_job_board_refusal_has_its_own_status() -> None:
    """Each error class of the board has its own status in the web layer's one table (so a
    refusal added later does not fall through to a plain 400)."""
    from fastnst.web.app import JOB_ERROR_STATUS
    from fastnst.web.jobs import errors

    refusals = {cls for cls in vars(errors).values()
                if isinstance(cls, type) and issubclass(cls, errors.JobError)
                and cls is not errors.JobError}
    assert refusals == set(JOB_ERROR_STATUS)
    assert len(set(JOB_ERROR_STATUS.values())) == len(JOB_ERROR_STATUS)


@pytest.mark.parametrize(("fields", "message"), [
    ({"algorithm": "cubist"}, "algorithm must be one of"),
    ({"size": "5000"}, "size must be at most"),
    ({"iterations": "100000"}, "iterations must be at most"),
    ({"email": "not an address"}, "not an e-mail address"),
    ({"email": "me@example.com"}, "sends no e-mail")])
def test_bad_job_requests(client: TestClient, fields: dict[str, str], message: str) -> None:
    response = client.post("/api/jobs", files=job_files(), data=fields)
    assert response.status_code == 400 and message in response.json()["detail"]


def test_camera_websocket_stylizes_frames(client: TestClient) -> None:
    frame = io.BytesIO()
    Image.open(CONTENT).save(frame, "JPEG")
    with client.websocket_connect("/ws/camera") as socket:
        socket.send_json({"style": "nope"})
        assert "unknown style" in socket.receive_json()["error"]
        socket.send_json({"style": "starry_night"})
        socket.send_bytes(frame.getvalue())
        out = Image.open(io.BytesIO(socket.receive_bytes()))
        assert out.format == "JPEG" and max(out.size) == 384  # --camera-side
        socket.send_bytes(b"garbage")
        assert "cannot read image" in socket.receive_json()["error"]


def test_each_model_is_loaded_once_and_requests_do_not_change_it(
        client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    site = client.app.state.site
    loads = []
    real_load = Stylizer.from_checkpoint

    def counted_load(*args, **kwargs):
        loads.append(args[0])
        return real_load(*args, **kwargs)

    monkeypatch.setattr(Stylizer, "from_checkpoint", counted_load)
    for strength in ("0.3", "1", "0.7"):
        assert stylize(client, png_bytes(), strength=strength,
                       preserve_colors="true").status_code == 200
    shared = site.styles.get("starry_night")
    assert site.styles.get("starry_night") is shared
    assert len(loads) <= 1  # loaded by the first request at most (or by an earlier test), once
    assert (shared.strength, shared.preserve_colors) == (1.0, False)  # per request: copies


def test_settings_come_from_flags_and_environment(monkeypatch, capsys) -> None:
    from fastnst.cli.web import main
    from fastnst.core.errors import FastNSTError
    from fastnst.core.settings import load_config
    from fastnst.web.web_config import env_settings

    assert env_settings({"FASTNST_WEB_PORT": "9000", "HOME": "/root"}) == {"port": "9000"}
    both = load_config(WebConfig, (), {"port": "9001"}, {"port": "9000", "max_side": "640"})
    assert (both.port, both.max_side) == (9001, 640)  # flags win over the environment
    with pytest.raises(FastNSTError, match="unknown setting FASTNST_WEB_PROT"):
        env_settings({"FASTNST_WEB_PROT": "9000"})
    monkeypatch.setenv("FASTNST_WEB_MAX_SIDE", "8")
    assert main(["--port", "9000"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastnst-web: error: --max-side, --camera-side and --max-job-side must be >= 16 px")
    monkeypatch.setenv("FASTNST_WEB_MAX_SIDE", "big")
    assert main([]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastnst-web: error: bad value 'big' for --max-side in the environment")
    monkeypatch.delenv("FASTNST_WEB_MAX_SIDE")
    assert main(["--port", "eighty"]) == 2
    assert capsys.readouterr().err.strip() == (
        "fastnst-web: error: bad value 'eighty' for --port in command line")
    assert main(["--queue", "ftp://x"]) == 2
    assert "--queue must be sqlite:///PATH or redis://" in capsys.readouterr().err


def test_a_taken_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    """Another program listens on the port: fastnst-web says so in one line, exits 2, and
    neither prints "serving" nor creates its data folder."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        result = subprocess.run(
            [sys.executable, "-m", "fastnst.cli.web", "--port", str(port), "--workers", "0",
             "--data-dir", str(data)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().splitlines() == [
        f"fastnst-web: error: cannot listen on 127.0.0.1:{port}: Address already in use "
        "(another program is listening there: stop it or pick another --port)"]
    assert not data.exists()
