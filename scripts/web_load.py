"""A load test of `fastnst-web` over HTTP: concurrent /api/stylize requests plus a few
custom-style jobs, reporting errors, latency percentiles and throughput.

Run it with `python scripts/web_load.py` (starts its own site on a free loopback port) or
point it at a running site with --url. Latencies are wall-clock seconds per request
(time.perf_counter), from sending the upload to reading the whole PNG answer.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import platform
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from fastnst.cli.common import Command
from fastnst.core.assets import CONTENT_DIR, STYLES_DIR
from fastnst.core.errors import FastNSTError
from fastnst.core.files import atomic_output, check_output_file
from fastnst.core.settings import option, settings

PROG = "web_load.py"
TERMINAL = ("done", "failed", "cancelled")  # job statuses that end a job
POLL_S = 0.5  # seconds between job status polls
MAX_ERROR_SAMPLES = 10  # distinct error messages kept in the report


@settings
class LoadConfig:
    """Options of the load test."""

    url: str = option("", "base URL of a running site, e.g. http://127.0.0.1:8000 (default: "
                      "start `fastnst-web` on a free loopback port with a temporary data "
                      "folder and stop it at the end). All clients share one address, so a "
                      "site given here needs --stylize-per-minute above --requests and "
                      "--jobs-per-client at least --jobs, or it answers 429", metavar="URL")
    clients: int = option(32, "concurrent clients, sharing one queue of requests",
                          metavar="N")
    requests: int = option(300, "stylize requests in all", metavar="N")
    size: int = option(512, "long side of the uploaded photo (a bundled photo, resized, "
                       "sent as JPEG)", metavar="PX")
    style: str = option("", "model to stylize with (default: the first from /api/styles)",
                        metavar="NAME")
    jobs: int = option(10, "custom-style jobs submitted during the run", metavar="N")
    job_size: int = option(64, "output long side of each job (the site's minimum is 64)",
                           metavar="PX")
    job_iterations: int = option(10, "optimiser steps of each job", metavar="N")
    job_timeout: float = option(600.0, "seconds to wait for the jobs to end after the "
                                "stylize requests (then the open ones count as errors)",
                                metavar="S")
    timeout: float = option(300.0, "seconds one HTTP request may take", metavar="S")
    output: str = option("", "write the report as JSON here", metavar="FILE",
                         flags=("-o", "--output"))
    command: str = option("", "the command line, for the report (set by main)", cli=False)

    def __post_init__(self) -> None:
        for name in ("clients", "requests", "job_iterations"):
            if getattr(self, name) < 1:
                raise FastNSTError(f"--{name.replace('_', '-')} must be >= 1")
        if self.jobs < 0:
            raise FastNSTError("--jobs must be >= 0")
        if self.size < 16:
            raise FastNSTError("--size must be >= 16 px")
        if self.job_size < 64:
            raise FastNSTError("--job-size must be >= 64 px (the site refuses smaller jobs)")
        if self.timeout <= 0 or self.job_timeout <= 0:
            raise FastNSTError("--timeout and --job-timeout must be > 0")
        if self.url and not self.url.startswith(("http://", "https://")):
            raise FastNSTError(f"--url must start with http:// or https://, not {self.url!r}")


COMMAND = Command(PROG, LoadConfig, "Load-test a fastnst-web site: --clients concurrent "
                  "clients send --requests stylize requests while --jobs custom-style jobs "
                  "run; prints errors, latency percentiles and throughput. Exit code 0 when "
                  "nothing failed, 1 otherwise.")


@dataclass
class Tally:
    """What the clients measured, filled in as requests end."""

    latencies: list[float] = field(default_factory=list)  # seconds, successful requests
    errors: Counter[str] = field(default_factory=Counter)  # message -> count
    job_ids: list[str] = field(default_factory=list)
    job_outcomes: Counter[str] = field(default_factory=Counter)  # final status -> count
    jobs_end: float = 0.0  # seconds from the start until the last job was seen ending

    def error(self, message: str) -> None:
        self.errors[message[:200]] += 1


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 <= q <= 100) with linear interpolation between order
    statistics (numpy's default); None for no values. E.g. percentile([1, 2, 3, 4], 50) = 2.5."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def jpeg_bytes(path: Path, side: int) -> bytes:
    """The image at path resized to `side` px on its long side (up or down), as JPEG."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = side / max(rgb.size)
    size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
    buffer = io.BytesIO()
    rgb.resize(size, Image.Resampling.LANCZOS).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


def first_file(folder: Path) -> Path:
    files = sorted(folder.glob("*.jpg"))
    if not files:
        raise FastNSTError(f"no bundled images in {folder}")
    return files[0]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def site_flags(config: LoadConfig) -> list[str]:
    """Flags for a self-started site: per-client limits raised above what one run sends
    (every client is 127.0.0.1), sizes allowed up to the test's."""
    return ["--stylize-per-minute", str(config.requests + 100),
            "--jobs-per-client", str(max(config.jobs, 1)),
            "--max-queued", str(max(config.jobs, 50)),
            "--max-side", str(max(config.size, 1024)),
            "--max-job-side", str(max(config.job_size, 1024)),
            "--max-iterations", str(max(config.job_iterations, 1000))]


@contextmanager
def local_site(config: LoadConfig, startup_timeout: float = 120.0) -> Iterator[str]:
    """Run `python -m fastnst.web` on a free loopback port with a temporary data folder for
    the block; yields its base URL. Its output goes to a log file, shown if it fails."""
    with tempfile.TemporaryDirectory(prefix="fastnst-load-") as folder:
        port = free_port()
        log_path = Path(folder) / "site.log"
        command = [sys.executable, "-m", "fastnst.web", "--port", str(port), "--data-dir",
                   str(Path(folder) / "data"), *site_flags(config)]
        with open(log_path, "wb") as log:
            # A session of its own: the site's job worker process can be killed with it.
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True)
        base = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(base, process, log_path, startup_timeout)
            yield base
        finally:
            stop_site(process)


def wait_healthy(base: str, process: subprocess.Popen[bytes], log_path: Path,
                 timeout: float) -> None:
    """Poll base/healthz until it answers 200; FastNSTError with the log if the site exits
    or stays silent for `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log = log_path.read_text(errors="replace")[-2000:]
            raise FastNSTError(f"fastnst-web exited with {process.returncode}:\n{log}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise FastNSTError(f"fastnst-web did not answer {base}/healthz in {timeout:g} s")


def stop_site(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the site (it stops its workers), SIGKILL its process group if it hangs."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def stylize_client(client: httpx.AsyncClient, queue: asyncio.Queue[int], photo: bytes,
                         style: str, size: int, tally: Tally) -> None:
    """Take request numbers from the queue until it is empty; time each request."""
    while True:
        try:
            queue.get_nowait()
        except asyncio.QueueEmpty:
            return
        started = time.perf_counter()
        try:
            answer = await client.post("/api/stylize",
                                       files={"image": ("photo.jpg", photo, "image/jpeg")},
                                       data={"style": style, "max_size": str(size)})
        except httpx.HTTPError as err:
            tally.error(f"stylize: {type(err).__name__}: {err}")
            continue
        elapsed = time.perf_counter() - started
        if answer.status_code == 200 and answer.content.startswith(b"\x89PNG"):
            tally.latencies.append(elapsed)
        else:
            tally.error(f"stylize: HTTP {answer.status_code} {answer.text[:120]}")


async def run_jobs(client: httpx.AsyncClient, config: LoadConfig, photo: bytes,
                   style_image: bytes, stylize_queue: asyncio.Queue[int], tally: Tally,
                   started: float) -> None:
    """Submit config.jobs jobs spread over the stylize run (job k once k/jobs of the stylize
    requests have been taken, so they compete with the clients), then poll them until they
    end. Sets tally.jobs_end (perf_counter seconds since `started`) when the last one ends."""
    for k in range(config.jobs):
        while stylize_queue.qsize() > config.requests * (1 - k / config.jobs):
            await asyncio.sleep(0.05)
        try:
            answer = await client.post(
                "/api/jobs",
                files={"content": ("photo.jpg", photo, "image/jpeg"),
                       "style": ("style.jpg", style_image, "image/jpeg")},
                data={"algorithm": "artistic", "size": str(config.job_size),
                      "iterations": str(config.job_iterations)})
        except httpx.HTTPError as err:
            tally.error(f"job: {type(err).__name__}: {err}")
            continue
        if answer.status_code == 201:
            tally.job_ids.append(answer.json()["id"])
        else:
            tally.error(f"job: HTTP {answer.status_code} {answer.text[:120]}")
    await wait_jobs(client, tally, config.job_timeout)
    tally.jobs_end = time.perf_counter() - started


async def wait_jobs(client: httpx.AsyncClient, tally: Tally, timeout: float) -> None:
    """Poll every submitted job until it ends; a job that ends other than done, or is still
    open `timeout` seconds after the last submission, is an error."""
    open_ids = list(tally.job_ids)
    deadline = time.monotonic() + timeout
    while open_ids and time.monotonic() < deadline:
        for job_id in list(open_ids):
            try:
                answer = await client.get(f"/api/jobs/{job_id}")
                status = answer.json()["status"] if answer.status_code == 200 else None
            except (httpx.HTTPError, ValueError, KeyError):
                continue  # a failed poll is retried; the deadline catches a dead site
            if status in TERMINAL:
                open_ids.remove(job_id)
                tally.job_outcomes[status] += 1
                if status != "done":
                    tally.error(f"job {job_id} ended {status}")
        if open_ids:
            await asyncio.sleep(POLL_S)
    for job_id in open_ids:
        tally.job_outcomes["timed out"] += 1
        tally.error(f"job {job_id} still open after {timeout:g} s")


async def run_load(config: LoadConfig, base: str) -> dict[str, Any]:
    """The load test against the site at base; returns the report (see `report`)."""
    photo = jpeg_bytes(first_file(CONTENT_DIR), config.size)
    job_photo = jpeg_bytes(first_file(CONTENT_DIR), config.job_size)
    style_image = jpeg_bytes(first_file(STYLES_DIR), config.job_size)
    limits = httpx.Limits(max_connections=config.clients + 4)
    async with httpx.AsyncClient(base_url=base, timeout=config.timeout,
                                 limits=limits) as client:
        style = config.style or await first_style(client)
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(config.requests):
            queue.put_nowait(number)
        tally = Tally()
        started = time.perf_counter()
        jobs = asyncio.create_task(run_jobs(client, config, job_photo, style_image, queue,
                                            tally, started))
        await asyncio.gather(*(stylize_client(client, queue, photo, style, config.size, tally)
                               for _ in range(config.clients)))
        duration = time.perf_counter() - started
        await jobs
    return report(config, base, style, tally, duration)


async def first_style(client: httpx.AsyncClient) -> str:
    answer = await client.get("/api/styles")
    if answer.status_code != 200 or not answer.json():
        raise FastNSTError(f"{client.base_url}/api/styles: HTTP {answer.status_code}, "
                           f"no style to use")
    return str(answer.json()[0]["name"])


def report(config: LoadConfig, base: str, style: str, tally: Tally,
           duration: float) -> dict[str, Any]:
    """The run as plain data: latencies in seconds, throughput in successful stylize
    requests per second over the stylize phase (`duration` s), the jobs' total time from
    the start of the run until the last one was seen ending (polled every 0.5 s)."""
    latencies = tally.latencies
    return {
        "command": config.command,
        "url": config.url or f"{base} (started by the load test)",
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version()},
        "clients": config.clients, "size": config.size, "style": style,
        "requests": config.requests, "ok": len(latencies),
        "errors": sum(tally.errors.values()),
        "error_samples": dict(tally.errors.most_common(MAX_ERROR_SAMPLES)),
        "latency_s": {"p50": percentile(latencies, 50), "p95": percentile(latencies, 95),
                      "p99": percentile(latencies, 99),
                      "max": max(latencies, default=None),
                      "mean": sum(latencies) / len(latencies) if latencies else None},
        "duration_s": duration,
        "throughput_rps": len(latencies) / duration,
        "jobs": {"requested": config.jobs, "submitted": len(tally.job_ids),
                 "size": config.job_size, "iterations": config.job_iterations,
                 "outcomes": dict(tally.job_outcomes), "total_s": tally.jobs_end},
    }


def seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} s"


def summary(result: dict[str, Any]) -> str:
    """A few lines for people."""
    latency, jobs = result["latency_s"], result["jobs"]
    outcomes = ", ".join(f"{n} {status}" for status, n in jobs["outcomes"].items()) or "none"
    lines = [f"{result['requests']} stylize requests at {result['size']} px "
             f"({result['style']}), {result['clients']} clients: {result['ok']} ok, "
             f"{result['errors']} errors",
             f"latency p50 {seconds(latency['p50'])}, p95 {seconds(latency['p95'])}, "
             f"p99 {seconds(latency['p99'])}, max {seconds(latency['max'])}; "
             f"throughput {result['throughput_rps']:.2f} requests/s over "
             f"{result['duration_s']:.1f} s",
             f"jobs ({jobs['size']} px, {jobs['iterations']} steps): {jobs['submitted']} "
             f"submitted, {outcomes}; all ended {jobs['total_s']:.1f} s after the start",
             f"machine: {result['machine']['cpu_count']} CPUs, {result['machine']['platform']}"]
    lines += [f"error x{n}: {message}" for message, n in result["error_samples"].items()]
    return "\n".join(lines)


def load_test(config: LoadConfig) -> int:
    output = check_output_file(config.output, (".json",), "--output") if config.output else None
    if config.url:
        result = asyncio.run(run_load(config, config.url.rstrip("/")))
    else:
        with local_site(config) as base:
            result = asyncio.run(run_load(config, base))
    print(summary(result))
    if output is not None:
        with atomic_output(output) as tmp:
            tmp.write_text(json.dumps(result, indent=2) + "\n")
        print(f"report: {output}")
    return 0 if result["errors"] == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    command = shlex.join(["python", f"scripts/{PROG}", *args])
    return COMMAND.main(args, load_test, extra={"command": command})


if __name__ == "__main__":
    sys.exit(main())
