"""fastnst: fast neural style transfer (Johnson et al. 2016) with a Gatys baseline.

Public tensors are float RGB images in [0, 1], NCHW. The names below are imported on first
use, so `import fastnst` stays cheap and never imports Lightning.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.2.0"

_PUBLIC = {
    "FastNSTError": "fastnst.core.errors",
    "Stylizer": "fastnst.inference.stylizer",
    "OnnxStylizer": "fastnst.inference.onnx_backend",
    "load_stylizer": "fastnst.inference.backends",
    "TransformerNet": "fastnst.models.johnson",
    "load_model": "fastnst.models.checkpoint",
    "save_model": "fastnst.models.checkpoint",
    "PerceptualLoss": "fastnst.losses.perceptual",
    "build_perceptual_loss": "fastnst.losses.builder",
    "gram_matrix": "fastnst.losses.functional",
    "build_loss_network": "fastnst.lossnets",
    "stylize_slow": "fastnst.slow.gatys",
    "evaluate": "fastnst.evaluation.evaluate",
}

__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'fastnst' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
