"""pytest plugin for `run.sh check`: run only the CUDA tests, and record each one's outcome.

    python3 -m pytest -p scripts.gpu.cuda_tests tests/...

A CUDA test is one marked `skipif(..., reason=...)` with "CUDA" or "GPU" in the reason (how
every GPU test of the suite skips on a CPU). The others are deselected, so the run names
exactly the tests that need the GPU. Outcomes go to $FASTNST_GPU_TESTS_JSON as
{node id: passed | failed | skipped | error}: on the GPU machine run.sh counts a skip as a
failure (a GPU test that skips there tested nothing).
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest

_OUTCOMES: dict[str, str] = {}


def _needs_gpu(item: pytest.Item) -> bool:
    for marker in item.iter_markers("skipif"):
        reason = str(marker.kwargs.get("reason", ""))
        if "CUDA" in reason or "GPU" in reason:
            return True
    return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep = [item for item in items if _needs_gpu(item)]
    dropped = [item for item in items if not _needs_gpu(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
    items[:] = keep


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or report.outcome != "passed":  # setup skips and errors too
        if report.when != "call" and report.outcome == "failed":
            outcome = "error"
        else:
            outcome = report.outcome
        # A later phase (teardown error) overrides a passed call.
        if _OUTCOMES.get(report.nodeid) in (None, "passed"):
            _OUTCOMES[report.nodeid] = outcome


def pytest_sessionfinish(session: pytest.Session, exitstatus: Any) -> None:
    path = os.environ.get("FASTNST_GPU_TESTS_JSON")
    if path:
        with open(path, "w") as out:
            json.dump(_OUTCOMES, out, indent=2)
