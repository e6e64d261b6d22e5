"""Paths of the files that ship inside the package (installed with the wheel)."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
ASSETS = PACKAGE_DIR / "assets"
CONTENT_DIR = ASSETS / "content"  # sample photos for commands and docs
PHOTOS_DIR = ASSETS / "photos"  # 8 COCO photos: a miniature training set
STYLES_DIR = ASSETS / "styles"  # style images
CONFIGS_DIR = PACKAGE_DIR / "configs"  # default.yaml, debug.yaml, fast.yaml, styles/
SHIPPED_MODELS_DIR = PACKAGE_DIR / "checkpoints"  # shipped styles + manifest.json

_STYLE_SUFFIXES = (".jpg", ".jpeg", ".png")


def bundled_style(name: str) -> Path | None:
    """The bundled style image called `name` (e.g. 'starry_night'), or None."""
    for suffix in _STYLE_SUFFIXES:
        candidate = STYLES_DIR / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    return None
