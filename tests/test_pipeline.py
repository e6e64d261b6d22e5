"""The threads around the stylizing loop: order, bounded queues, errors and early exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from fastnst.inference.pipeline import Drain, Prefetch


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("test-")]


def counting(limit: int, fail_at: int | None = None, pulled: list[int] | None = None
             ) -> Iterator[int]:
    for value in range(limit):
        if value == fail_at:
            raise OSError(f"broken at {value}")
        if pulled is not None:
            pulled.append(value)
        yield value


@pytest.mark.parametrize("size", [0, 1, 3])
def test_prefetch_keeps_order_and_raises_after_the_items_before_the_error(size):
    with Prefetch(counting(50), size, "test-prefetch") as items:
        assert list(items) == list(range(50))
    got = []
    with pytest.raises(OSError, match="broken at 7"), \
            Prefetch(counting(50, fail_at=7), size, "test-prefetch") as items:
        for item in items:
            got.append(item)
    assert got == list(range(7))
    assert pipeline_threads() == []


def test_prefetch_runs_at_most_size_items_ahead_and_stops_when_left():
    pulled: list[int] = []
    with Prefetch(counting(1000, pulled=pulled), 4, "test-prefetch") as items:
        assert next(items) == 0
        time.sleep(0.3)  # let the thread fill the queue
        # one handed out, 4 queued, one held by the blocked put
        assert len(pulled) <= 1 + 4 + 1
    assert pipeline_threads() == [] and len(pulled) < 1000


@pytest.mark.parametrize("size", [0, 1, 3])
def test_drain_consumes_in_order_and_raises_its_error_in_the_caller(size):
    seen: list[int] = []
    with Drain(seen.append, size, "test-drain") as sink:
        for value in range(50):
            sink.put(value)
        sink.close()
    assert seen == list(range(50))

    def fragile(value: int) -> None:
        if value == 5:
            raise OSError("disk full")
        seen.append(value)

    seen.clear()
    with pytest.raises(OSError, match="disk full"), Drain(fragile, size, "test-drain") as sink:
        for value in range(50):
            sink.put(value)
        sink.close()
    assert seen == list(range(5))  # nothing consumed after the error
    assert pipeline_threads() == []


def test_drain_left_without_close_stops_its_thread():
    seen: list[int] = []
    with pytest.raises(KeyError), Drain(seen.append, 2, "test-drain") as sink:
        sink.put(1)
        raise KeyError("the loop failed")
    assert pipeline_threads() == [] and seen in ([], [1])
