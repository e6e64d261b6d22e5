"""The site's per-client request limits (fastnst.web.limits): memory stays bounded as clients
come and go, and site processes sharing a Redis share one budget."""

from __future__ import annotations

import gc
import time
import tracemalloc
from pathlib import Path

import pytest

pytest.importorskip("limits")
pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from fastnst.web.app import create_app
from fastnst.web.limits import RateLimiter
from fastnst.web.web_config import WebConfig
from tests.web_server import redis_server


def test_a_client_over_the_limit_waits_at_most_the_window() -> None:
    limiter = RateLimiter(2, window=60)
    assert [limiter.try_acquire("10.0.0.1") for _ in range(2)] == [0.0, 0.0]
    assert 0 < limiter.try_acquire("10.0.0.1") <= 60
    assert limiter.try_acquire("10.0.0.2") == 0.0  # per client


def test_memory_stays_bounded_as_clients_come_and_go() -> None:
    """Three waves of 2,000 new clients, each wave idle for longer than the window before the
    next: what the limiter holds once a wave is gone does not grow with the clients seen (a
    limiter that keeps any entry per client grows by 200+ bytes a client)."""
    limiter = RateLimiter(1, window=1)
    clients = 2000

    def wave(number: int) -> None:
        for i in range(clients):
            assert limiter.try_acquire(f"10.{number}.{i // 256}.{i % 256}") == 0.0

    def held_when_idle() -> int:
        time.sleep(2.2)  # two windows: the sliding counter's entries have all expired
        limiter.try_acquire("192.0.2.1")  # limits expires entries on its next use
        time.sleep(0.3)
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    tracemalloc.start()
    try:
        wave(0)
        first = held_when_idle()
        wave(1)
        wave(2)
        last = held_when_idle()
    finally:
        tracemalloc.stop()
    # Waves 1 and 2 brought 2 * clients new clients: a limiter keeping 200+ bytes for each
    # would hold 800 KB more; allow half that rate for the allocator's own slack (a busy
    # machine measured 156 KB here).
    assert last - first < 100 * 2 * clients


def make_client(folder: Path, **settings: object) -> TestClient:
    config = WebConfig(data_dir=str(folder), workers=0, **settings)  # type: ignore[arg-type]
    return TestClient(create_app(config, start_workers=False))


def stylize_status(client: TestClient) -> int:
    # An unknown style: counted against the limit, then refused (400) without running a model.
    return client.post("/api/stylize", files={"image": ("a.png", b"x")},
                       data={"style": "no-such-style"}).status_code


def test_site_processes_share_one_budget_in_redis(tmp_path: Path) -> None:
    with redis_server(tmp_path) as url:
        first = make_client(tmp_path / "a", stylize_per_minute=2, rate_limit_storage=url)
        second = make_client(tmp_path / "b", stylize_per_minute=2, rate_limit_storage=url)
        assert [stylize_status(first), stylize_status(second)] == [400, 400]
        refused = first.post("/api/stylize", files={"image": ("a.png", b"x")},
                             data={"style": "no-such-style"})
        assert refused.status_code == 429 and 1 <= int(refused.headers["retry-after"]) <= 60
        assert stylize_status(second) == 429
    # memory://: each site process counts on its own
    own = [make_client(tmp_path / name, stylize_per_minute=1) for name in ("c", "d")]
    assert [stylize_status(client) for client in own] == [400, 400]
    assert stylize_status(own[0]) == 429


def test_the_storage_setting_is_checked() -> None:
    from fastnst.core.errors import FastNSTError

    with pytest.raises(FastNSTError, match="--rate-limit-storage must be memory:// or redis://"):
        WebConfig(rate_limit_storage="memcached://localhost")
