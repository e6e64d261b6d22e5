"""The shipped (and locally added) style models the site offers, each loaded once and shared
by every request, and the models training jobs made (fastnst.web.trained), loaded on demand
and kept while used (the last TRAINED_LOADED).

A request gets its own view of a model through Stylizer.with_controls (strength, colours),
which copies a few attributes and shares the net: nothing a request sets is seen by
another. Models run untiled (photos are downscaled to --max-side first), so no tiling hooks
are installed on the shared nets.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from fastnst.core.assets import bundled_style
from fastnst.core.errors import FastNSTError
from fastnst.inference.still import stylize_image
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import (
    MODEL_SUFFIX,
    ModelSpec,
    model_search_dirs,
    model_styles,
    resolve_spec,
)

# Trained models kept loaded (a width-1 net is ~7 MB): the most recently used ones.
TRAINED_LOADED = 16


@dataclass(frozen=True)
class StyleEntry:
    """A model offered on the site: its bare name, a title, its style image (or None) and
    its file, found once when the site starts."""

    name: str
    title: str
    style_image: Path | None
    model: ModelSpec


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
    found = sorted(available_styles()) if names is None else list(dict.fromkeys(names))
    if not found:
        raise FastNSTError("no style models found (train one with fastnst-train, or set "
                           "$FASTNST_CHECKPOINTS)")
    # MODEL:STYLE entries show their style's own bundled picture and name.
    return [StyleEntry(name, name.replace("_", " ").replace(":", ": ").title(),
                       bundled_style(name.rpartition(":")[2]), resolve_spec(name))
            for name in found]


class StyleModels:
    """Loads each offered model on first use, once, and keeps it."""

    def __init__(self, entries: list[StyleEntry], device: str) -> None:
        self.entries = {entry.name: entry for entry in entries}
        self.device = device
        self._models: dict[str, Stylizer] = {}
        self._trained: OrderedDict[Path, Stylizer] = OrderedDict()
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        return list(self.entries)

    def get(self, name: str, checkpoint: Path | None = None) -> Stylizer:
        """The shared stylizer for `name`, or for the trained model file `checkpoint`;
        KeyError for a style the site does not offer."""
        if checkpoint is not None:
            return self._get_trained(checkpoint)
        if name not in self.entries:
            raise KeyError(name)
        with self._lock:  # two first requests for a style must not load it twice
            if name not in self._models:
                self._models[name] = Stylizer.from_checkpoint(self.entries[name].model,
                                                              self.device)
            return self._models[name]

    def _get_trained(self, checkpoint: Path) -> Stylizer:
        with self._lock:
            if checkpoint in self._trained:
                self._trained.move_to_end(checkpoint)
            else:
                self._trained[checkpoint] = Stylizer.from_checkpoint(checkpoint, self.device)
                while len(self._trained) > TRAINED_LOADED:
                    self._trained.popitem(last=False)
            return self._trained[checkpoint]

    def stylize(self, name: str, image: Image.Image, strength: float = 1.0,
                preserve_colors: bool = False, checkpoint: Path | None = None) -> Image.Image:
        """RGB PIL image -> stylized RGB PIL image of the same size (blocking: call it from a
        worker thread). strength in [0, 1] (FastNSTError outside). checkpoint: a trained
        model's file (see Site.style_file), else `name` is one of `entries`."""
        stylizer = self.get(name, checkpoint).with_controls(strength=strength,
                                                            preserve_colors=preserve_colors)
        return stylize_image(stylizer, image).image
