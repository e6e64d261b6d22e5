"""Paths of the files that ship inside the package (installed with the wheel)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ASSETS = PACKAGE_DIR / "assets"
CONTENT_DIR = ASSETS / "content"  # sample photos for commands and docs
PHOTOS_DIR = ASSETS / "photos"  # 8 COCO photos: a miniature training set
STYLES_DIR = ASSETS / "styles"  # style images


def _package_data(package: str, folder: str) -> Path:
    """The repository's `folder` (beside fastnst/), installed as `package` (pyproject.toml's
    package-dir): importlib finds it in a wheel and in an editable install; a checkout run
    without installing (PYTHONPATH=., as the GPU kit runs) has only the folder itself."""
    try:
        return Path(str(files(package)))
    except ModuleNotFoundError:
        return PACKAGE_DIR.parent / folder


CONFIGS_DIR = _package_data("fastnst.configs", "configs")  # default.yaml, debug.yaml, ...
SHIPPED_MODELS_DIR = _package_data("fastnst.checkpoints", "checkpoints")  # styles + manifest

_STYLE_SUFFIXES = (".jpg", ".jpeg", ".png")


def bundled_style(name: str) -> Path | None:
    """The bundled style image called `name` (e.g. 'starry_night'), or None."""
    for suffix in _STYLE_SUFFIXES:
        candidate = STYLES_DIR / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None
