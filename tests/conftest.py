"""Shared fixtures: tiny offline images made from the bundled assets."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "fastnst" / "assets"
DEBUG_CONFIG = ROOT / "fastnst" / "configs" / "debug.yaml"
STYLE = ASSETS / "styles" / "starry_night.jpg"
CONTENT = ASSETS / "content" / "chicago.jpg"


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder of six small photos (two in a subfolder, as in COCO-like layouts)."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, source in enumerate(sorted((ASSETS / "photos").glob("*.jpg"))[:6]):
        target = folder / ("sub" if i >= 4 else "") / source.name
        Image.open(source).resize((96, 80)).save(target)
    return folder


@pytest.fixture
def style_image(tmp_path: Path) -> Path:
    target = tmp_path / "style.jpg"
    shutil.copy(STYLE, target)
    return target


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread: tiny tensors gain nothing from more, and on a busy machine
    OpenMP hand-offs between threads can stall each call for seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Path:
    """A folder nobody can create files in (root ignores modes, so use /sys for root)."""
    import os

    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder
