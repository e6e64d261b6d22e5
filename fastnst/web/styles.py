"""The shipped (and locally added) style models the site offers, each loaded once and shared
by every request.

A request gets its own view of a model through Stylizer.with_controls (strength, colours),
which copies a few attributes and shares the net: nothing a request sets is seen by
another. Models run untiled (photos are downscaled to --max-side first), so no tiling hooks
are installed on the shared nets.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fastnst.core.assets import bundled_style
from fastnst.core.errors import FastNSTError
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import (
    MODEL_SUFFIX,
    model_search_dirs,
    model_styles,
    resolve_model,
)


@dataclass(frozen=True)
class StyleEntry:
    """A model offered on the site: its bare name, a title, and its style image (or None)."""

    name: str
    title: str
    style_image: Path | None


def available_styles() -> set[str]:
    """Every style the model folders offer: each single-style model by its name, each style
    of a multi-style model by its own name (or MODEL:STYLE when a model already has that
    name), as resolve_spec finds them."""
    files = [path for folder in model_search_dirs() if folder.is_dir()
             for path in sorted(folder.glob(f"*{MODEL_SUFFIX}"))]
    multi = {path: model_styles(path) for path in files}
    names = {path.stem for path in files if not multi[path]}
    for path, styles in multi.items():
        for style in styles:
            names.add(f"{path.stem}:{style}" if style in names else style)
    return names


def find_styles(names: tuple[str, ...] | None) -> list[StyleEntry]:
    """The models named (or every model in fastnst's model folders), sorted by name.

    Raises FastNSTError for a named model that does not exist (the site must not start
    advertising a style it cannot serve)."""
    if names is None:
        found = sorted(available_styles())
    else:
        found = list(dict.fromkeys(names))
        for name in found:
            resolve_model(name)
    if not found:
        raise FastNSTError("no style models found (train one with fastnst-train, or set "
                           "$FASTNST_CHECKPOINTS)")
    # MODEL:STYLE entries show their style's own bundled picture and name.
    return [StyleEntry(name, name.replace("_", " ").replace(":", ": ").title(),
                       bundled_style(name.rpartition(":")[2])) for name in found]


class StyleModels:
    """Loads each offered model on first use, once, and keeps it."""

    def __init__(self, entries: list[StyleEntry], device: str) -> None:
        self.entries = {entry.name: entry for entry in entries}
        self.device = device
        self._models: dict[str, Stylizer] = {}
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str) -> Stylizer:
        """The shared stylizer for `name`; KeyError for a style the site does not offer."""
        if name not in self.entries:
            raise KeyError(name)
        with self._lock:  # two first requests for a style must not load it twice
            if name not in self._models:
                self._models[name] = Stylizer.from_checkpoint(name, self.device)
            return self._models[name]

    def stylize(self, name: str, image: Image.Image, strength: float = 1.0,
                preserve_colors: bool = False) -> Image.Image:
        """RGB PIL image -> stylized RGB PIL image of the same size (blocking: call it from a
        worker thread). strength in [0, 1] (FastNSTError outside)."""
        stylizer = self.get(name).with_controls(strength=strength,
                                                preserve_colors=preserve_colors)
        return stylizer(image)
