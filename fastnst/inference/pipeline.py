"""Two threads around a loop: one runs a producer ahead of it, one a consumer behind it, each
through a bounded queue, so the loop (stylizing frames) does not wait on the work on either side
(decoding and encoding video). Order is kept, memory is bounded by the queues, and an exception
in a thread reaches the loop's thread as if there were no threads. Python's own
concurrent.futures has no bounded, ordered stream of this kind; queue.Queue is its core.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class _Failure:
    """An exception raised in a pipeline thread, carried to the caller's thread."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


_END = object()  # the last item through a pipeline queue
# How often, in s, a blocked queue operation looks whether the other side gave up.
_POLL_S = 0.05


class Prefetch(Generic[T]):
    """Iterates `items` in a thread, up to `size` items ahead of the consumer (0: no thread,
    the items are pulled when asked). An exception in the thread is raised to the consumer
    after the items before it; leaving the block stops and joins the thread, so nothing the
    items use (an open container) is closed under it."""

    def __init__(self, items: Iterator[T], size: int, name: str = "fastnst-prefetch") -> None:
        self.items, self.size = items, size
        self.queue: queue.Queue[Any] = queue.Queue(max(1, size))
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _put(self, item: Any) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self.items:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as err:  # noqa: BLE001 -- raised again in the consumer's thread
            self._put(_Failure(err))

    def __enter__(self) -> Iterator[T]:
        if self.size == 0:
            return self.items
        self.thread.start()
        return self._consume()

    def _consume(self) -> Iterator[T]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()


class Drain(Generic[T]):
    """Calls `consume(item)` on the items `put`, in order, in a thread with up to `size` items
    queued (0: at once, in the caller's thread). An exception in the thread is raised by the
    next `put` or by `close`, and the items after it are dropped; leaving the block without
    `close` stops and joins the thread."""

    def __init__(self, consume: Callable[[T], None], size: int,
                 name: str = "fastnst-drain") -> None:
        self.consume, self.size = consume, size
        self.queue: queue.Queue[Any] = queue.Queue(max(1, size))
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    item = self.queue.get(timeout=_POLL_S)
                except queue.Empty:
                    continue
                if item is _END:
                    return
                self.consume(item)
        except BaseException as err:  # noqa: BLE001 -- raised again in the producer's thread
            self.error = err

    def _raise(self) -> None:
        if self.error is not None:
            raise self.error

    def _send(self, item: Any) -> None:
        while True:
            self._raise()
            try:
                self.queue.put(item, timeout=_POLL_S)
                return
            except queue.Full:
                continue

    def put(self, item: T) -> None:
        """Hand `item` to `consume`; blocks while `size` items wait."""
        if self.size == 0:
            self.consume(item)
        else:
            self._send(item)

    def close(self) -> None:
        """Wait until every item is consumed; raise the thread's exception, if any."""
        if self.size > 0:
            self._send(_END)
            self.thread.join()
        self._raise()

    def __enter__(self) -> Drain[T]:
        if self.size > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join()
