"""Running `fastnst-web` (and its workers, and Redis) as real processes for tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

# Settings that keep a test's jobs small and its recovery quick.
TEST_SETTINGS = ("--heartbeat-timeout", "3", "--stylize-per-minute", "1000")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll url until it answers 200; fail with the process's output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace") if process.stdout else ""
            raise RuntimeError(f"server exited with {process.returncode}:\n{output[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer in {timeout} s")


def start_web(data_dir: Path, *flags: str, port: int | None = None,
              env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start `python -m fastnst.web` on a free loopback port; returns (process, base URL)."""
    port = port or free_port()
    command = [sys.executable, "-m", "fastnst.web", "--port", str(port), "--data-dir",
               str(data_dir), *TEST_SETTINGS, *flags]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               env={**os.environ, "OMP_NUM_THREADS": "1", **(env or {})},
                               start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz", process)
    return process, base


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Send sig to the process (SIGKILL: only to it, as a crash would) and reap it."""
    if process.poll() is None:
        process.send_signal(sig)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def web_server(data_dir: Path, *flags: str, env: dict[str, str] | None = None
               ) -> Iterator[str]:
    """A running site for the block; yields its base URL."""
    process, base = start_web(data_dir, *flags, env=env)
    try:
        yield base
    finally:
        stop(process)


@contextmanager
def redis_server(folder: Path) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, its files in folder; yields its URL.
    Skips the test when redis-server is not installed (.ci/run installs it)."""
    import pytest

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1",
                                "--dir", str(folder), "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError("redis-server did not start") from None
            time.sleep(0.1)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def wait_for_job(base: str, job_id: str, statuses: tuple[str, ...] = ("done", "failed",
                                                                        "cancelled"),
                 timeout: float = 120.0) -> dict[str, object]:
    """Poll /api/jobs/ID until its status is one of `statuses`; returns the last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{base}/api/jobs/{job_id}", timeout=10).json()
        if status["status"] in statuses:
            return status  # type: ignore[no-any-return]
        time.sleep(0.3)
    raise TimeoutError(f"job {job_id} still {status['status']} after {timeout} s")
