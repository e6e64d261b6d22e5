"""Paths of the files that ship inside the package (installed with the wheel)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ASSETS = PACKAGE_DIR / "assets"
CONTENT_DIR = ASSETS / "content"  # sample photos for commands and docs
PHOTOS_DIR = ASSETS / "photos"  # 8 COCO photos: a miniature training set
STYLES_DIR = ASSETS / "styles"  # style images
# The repository's configs/ and checkpoints/ (beside fastnst/), installed as these two packages
# (pyproject.toml's package-dir): importlib finds them in a wheel and in an editable install.
CONFIGS_DIR = Path(str(files("fastnst.configs")))  # default.yaml, debug.yaml, fast.yaml, ...
SHIPPED_MODELS_DIR = Path(str(files("fastnst.checkpoints")))  # shipped styles + manifest.json

_STYLE_SUFFIXES = (".jpg", ".jpeg", ".png")


def bundled_style(name: str) -> Path | None:
    """The bundled style image called `name` (e.g. 'starry_night'), or None."""
    for suffix in _STYLE_SUFFIXES:
        candidate = STYLES_DIR / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None
