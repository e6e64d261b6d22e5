"""The GPU kit (scripts/gpu, docs/gpu.md) end to end in miniature on the CPU
(FASTNST_GPU_DRY_RUN=1): `run.sh check` and `run.sh ship` on a `.carry/` made by carry.py from
the bundled photos and two bundled styles, so the first GPU call finds no error a CPU could."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import torch

from fastnst.models.checkpoint import load_model
from tests.conftest import ASSETS, ROOT

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("timeout") is None or shutil.which("bash") is None,
                                 reason="the kit's run.sh needs bash and coreutils' timeout")]
STYLES = ("candy", "mosaic")


@pytest.fixture(scope="module")
def carry(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("gpukit") / "carry"
    subprocess.run([sys.executable, "scripts/gpu/carry.py", "--photos", str(ASSETS / "photos"),
                    "--styles", str(ASSETS / "styles"), "--eval", str(ASSETS / "content"),
                    "--style-names", *STYLES, "--out", str(folder), "--limit-mib", "1000",
                    "--no-site", "--workers", "1"], cwd=ROOT, check=True, capture_output=True)
    return folder


def run_kit(mode: str, carry: Path, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    environ = {**os.environ, "OUT": str(out), "FASTNST_GPU_DRY_RUN": "1",
               "FASTNST_CARRY": str(carry), "FASTNST_GPU_WORK": str(tmp_path / "work"),
               "PYTHON": sys.executable, **env}
    return subprocess.run(["bash", "scripts/gpu/run.sh", mode], cwd=ROOT, env=environ,
                          capture_output=True, text=True, timeout=330)


def log_tail(tmp_path: Path, mode: str) -> str:
    log = tmp_path / "out" / f"{mode}.log"
    return log.read_text()[-3000:] if log.is_file() else ""


def test_check_runs_every_stage(carry, tmp_path):
    result = run_kit("check", carry, tmp_path)
    assert result.returncode == 0, log_tail(tmp_path, "check")
    out = tmp_path / "out"
    stages = json.loads((out / "stages_check.json").read_text())
    assert stages["dry_run"] is True and stages["failed"] is False
    status = {s["stage"]: s["status"] for s in stages["stages"]}
    assert list(status) == ["environment", "photo-cache", "cuda-tests", "bench", "train-rate",
                            "quick-recipe"]
    quick = (ROOT / "configs" / "quick.yaml").is_file()
    assert status == {**dict.fromkeys(status, "ok"), "quick-recipe": "ok" if quick else "skipped"}
    # Every CUDA test is named, and on the CPU each one skipped (on the GPU: a failure).
    outcomes = json.loads((out / "cuda_tests.json").read_text())
    assert "tests/test_data.py::test_training_on_a_cache_on_cuda" in outcomes
    assert len(outcomes) >= 4 and set(outcomes.values()) == {"skipped"}
    bench = json.loads((out / "bench.json").read_text())
    assert bench["complete"] is True
    assert {(r["task"], r["variant"]) for r in bench["results"]} >= {
        ("inference", "baseline"), ("train", "baseline"), ("train", "optimized")}
    rate = json.loads((out / "train_rate.json").read_text())
    assert (rate["steps"], rate["images_seen"], rate["timed_steps"]) == (3, 6, 2)
    assert rate["steady_images_per_s"] > 0
    # Without .carry/ it stops at once with one line saying what to do.
    missing = run_kit("check", tmp_path / "nothing", tmp_path)
    assert missing.returncode == 2 and "carry.sh" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_ship_retrains_every_style_in_one_model_and_packs(carry, tmp_path):
    # The default: every style in one multi-style model, warm-started from the shipped
    # paintings (one file for all styles, which the repository can ship).
    result = run_kit("ship", carry, tmp_path, FASTNST_GPU_BUDGET_S="200")
    assert result.returncode == 0, log_tail(tmp_path, "ship")
    out = tmp_path / "out"
    summary = json.loads((out / "ship.json").read_text())
    assert summary["calibration"]["steps"] == 2 and summary["calibration"]["step_s"] > 0
    run = summary["runs"]["paintings"]
    assert list(summary["runs"]) == ["paintings"] and sorted(run["styles"]) == sorted(STYLES)
    assert run["steps"] >= 1 and run["images_seen"] == 2 * run["steps"]  # debug recipe: batch 2
    assert set(summary["styles"]) == set(STYLES)
    for name, style in summary["styles"].items():
        assert style["run"] == "paintings" and style["eval_exit_code"] == 0, name
        assert style["eval"]["style_error"] > 0 and style["eval"]["content_error"] > 0
    files = sorted(p.name for p in out.iterdir())
    assert len(files) <= 6 and all((out / f).stat().st_size < 16 * 2**20 for f in files)
    assert {"models_1.tar", "results_1.tar", "ship.json", "ship.log",
            "stages_ship.json"} <= set(files)
    unpacked = tmp_path / "unpacked"
    for archive in ("models_1.tar", "results_1.tar"):
        with tarfile.open(out / archive) as tar:
            tar.extractall(unpacked, filter="data")
    net, meta = load_model(unpacked / "models" / "paintings.ckpt")
    assert sorted(net.styles) == sorted(STYLES) and meta["steps"] == run["steps"]
    assert meta["init"] == "paintings"
    assert all(torch.isfinite(p).all() for p in net.parameters())
    for name in STYLES:
        scored = json.loads((unpacked / "eval" / f"{name}.json").read_text())
        assert scored["model_style"] == name and scored["num_images"] == 4
    scalars = json.loads((unpacked / "scalars" / "paintings.json").read_text())
    assert scalars["train/total"][0][1] > 0  # [step, value] pairs from TensorBoard
