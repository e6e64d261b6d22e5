"""The load test script (scripts/web_load.py) against a site it starts itself."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts.web_load import main, percentile


def test_percentile_interpolates_between_order_statistics() -> None:
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0, 5.0], 95) == pytest.approx(4.8)
    assert percentile([7.0], 99) == 7.0
    assert percentile([], 50) is None


@pytest.mark.slow
def test_small_load_run_reports_no_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("fastapi")  # the site it starts (optional where run from the tree)
    # The site it starts inherits this: tiny images gain nothing from more torch threads.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    report = tmp_path / "load.json"
    code = main(["--clients", "4", "--requests", "8", "--size", "64", "--jobs", "1",
                 "--job-size", "64", "--job-iterations", "5", "--output", str(report)])
    result = json.loads(report.read_text())
    assert code == 0, result["error_samples"]
    assert (result["requests"], result["ok"], result["errors"]) == (8, 8, 0)
    latency = result["latency_s"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert result["jobs"]["submitted"] == 1
    assert result["jobs"]["outcomes"] == {"done": 1}
    assert result["command"].endswith(f"--output {report}")
    assert "8 ok, 0 errors" in capsys.readouterr().out
