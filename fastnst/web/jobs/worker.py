"""Job workers: Huey's consumer running fastnst.web.jobs.runner, in `fastnst-web worker` on any
machine, or in a child process that `fastnst-web` starts for the embedded queue."""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
from multiprocessing.process import BaseProcess

from fastnst.web.jobs.queue import open_queue
from fastnst.web.jobs.runner import register_task
from fastnst.web.web_config import WebConfig

log = logging.getLogger(__name__)
_PR_SET_PDEATHSIG = 1  # from linux/prctl.h


def run_worker(config: WebConfig, threads: int | None = None) -> None:
    """Run `threads` (default --workers, at least 1) job threads on this process until
    SIGINT/SIGTERM; Huey finishes or abandons running jobs as its consumer does (an
    abandoned job is queued again by the site once its heartbeat stops)."""
    huey = open_queue(config.queue_url)
    register_task(huey, config)
    consumer = huey.create_consumer(workers=threads or max(1, config.workers),
                                    worker_type="thread", periodic=False,
                                    check_worker_health=True)
    consumer.run()


def _die_with_parent() -> None:
    """Linux: have the kernel SIGTERM this process when its parent dies (even by SIGKILL),
    so a killed site leaves no orphan worker; elsewhere nothing."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:
        return
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_main(config: WebConfig, parent: int) -> None:
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl: nothing to work for
        return
    logging.basicConfig(level=logging.INFO, format="worker %(levelname)s %(message)s")
    run_worker(config)


def start_embedded_worker(config: WebConfig) -> BaseProcess:
    """Start run_worker in a child process (spawned: a fresh interpreter, no state shared
    with the site's threads) that dies with the site."""
    context = multiprocessing.get_context("spawn")
    process = context.Process(target=_child_main, args=(config, os.getpid()),
                              name="fastnst-web-worker", daemon=True)
    process.start()
    log.info("job worker process %d started (%d threads)", process.pid, config.workers)
    return process
