"""The test suite is isolated from what a user's earlier commands leave (tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fastnst.core.assets import SHIPPED_MODELS_DIR
from fastnst.models.checkpoint import load_model, save_model
from tests.conftest import ROOT

# The test the README's training demo used to break: it lists the models the site offers.
WEB_STYLES_TEST = "tests/test_web_api.py::test_styles_lists_the_shipped_model_with_a_thumbnail"


def test_a_users_checkpoints_do_not_change_the_tests(tmp_path: Path) -> None:
    """After the README's demo (./models/demo.ckpt) and with $FASTNST_CHECKPOINTS and
    FASTNST_WEB_* set, `python -m pytest` run from that folder still passes and writes nothing
    into it."""
    pytest.importorskip("fastapi")
    user = tmp_path / "user"
    (user / "models").mkdir(parents=True)
    # A user's own single-style models, as fastnst-train writes them.
    net, meta = load_model(f"{SHIPPED_MODELS_DIR / 'paintings.ckpt'}:starry_night")
    save_model(net, user / "models" / "demo.ckpt", meta=meta)
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(user / "models" / "demo.ckpt", extra / "mine.ckpt")
    before = sorted(user.rglob("*"))
    env = {**os.environ, "FASTNST_CHECKPOINTS": str(extra), "FASTNST_WEB_STYLES": "demo",
           "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
         str(ROOT / WEB_STYLES_TEST)],
        cwd=user, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:]
    assert sorted(user.rglob("*")) == before
