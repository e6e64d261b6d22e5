"""What every loss network shares: frozen named layers, input preprocessing, weight loading.

A loss network is an `nn.ModuleDict` of layers in execution order, named as in the papers
(relu4_2, fire3, ...). Callers pass float RGB images in [0, 1], NCHW; the network converts them
to its weights' input convention (`preprocess`), never in place.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst.core.errors import FastNSTError, ParameterError, first_line

# Original VGG (Caffe, via Keras): BGR, 0-255, minus the ImageNet mean in BGR order
# (Simonyan & Zisserman 2015; the values of Keras' `imagenet_utils.preprocess_input`).
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision's ImageNet weights: RGB in [0, 1], normalized by ImageNet mean/std
# (torchvision.transforms._presets.ImageClassification defaults).
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

CONVENTIONS = ("caffe", "torch")


class NamedFeatures(nn.Module):
    """A frozen loss network; forward returns the requested named activations.

    layers: the network's modules in execution order, keyed by layer name. convention:
    'caffe' (BGR, 0-255 minus CAFFE_MEAN_BGR) or 'torch' (RGB, (x - TORCH_MEAN) / TORCH_STD).
    Only the layers up to the deepest requested one run. Parameters never need grad and the
    module stays in eval mode; gradients still flow to the input image.
    """

    def __init__(self, title: str, layers: nn.ModuleDict, convention: str) -> None:
        super().__init__()
        if convention not in CONVENTIONS:
            raise ValueError(f"convention must be one of {CONVENTIONS}, not {convention!r}")
        self.title = title
        self.layers = layers
        self.convention = convention
        self.requires_grad_(False)
        self.eval()
        if convention == "caffe":
            # x_bgr255 - mean == (x_bgr - mean / 255) * 255
            mean = torch.tensor(CAFFE_MEAN_BGR) / 255.0
            scale = torch.full((3,), 255.0)
        else:
            mean = torch.tensor(TORCH_MEAN)
            scale = 1.0 / torch.tensor(TORCH_STD)
        # Not persistent: derived from the convention, and the loss network is never saved.
        self.register_buffer("mean", mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", scale.view(1, 3, 1, 1), persistent=False)

    @property
    def layer_names(self) -> tuple[str, ...]:
        """All layer names in execution order."""
        return tuple(self.layers)

    def train(self, mode: bool = True) -> NamedFeatures:
        # Always eval: the loss network is frozen (VGG has no dropout/BN, but be explicit).
        return super().train(False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N, 3, H, W) -> the weights' input convention; never modifies `images`."""
        if self.convention == "caffe":
            images = images.flip(1)  # RGB -> BGR
        return (images - self.mean) * self.scale

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        """images: (N, 3, H, W) RGB in [0, 1] -> {layer name: activation (N, C, h, w)}."""
        names = self.layer_names
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise FastNSTError(f"unknown {self.title} layer(s) {', '.join(unknown)}; "
                               f"valid names: {', '.join(names)}")
        wanted = set(layers)
        if not wanted:
            return {}
        deepest = max(names.index(name) for name in wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(images)
        for name in names[: deepest + 1]:
            x = self.layers[name](x)
            if name in wanted:
                out[name] = x
        return out


def read_state_file(path: Path) -> dict[str, Any]:
    """A state dict saved with torch.save, loaded on CPU with weights_only=True."""
    if not path.is_file():
        raise ParameterError(
            "vgg_weights", f"must be 'torchvision', 'caffe' (VGG19 only) or a state-dict file; "
            f"no file {path}")
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors vary by file: report them all the same way
        raise FastNSTError(f"{path}: not a loadable state dict ({first_line(err)})") from None
    if not isinstance(raw, dict):
        raise FastNSTError(f"{path}: expected a state dict, found {type(raw).__name__}")
    return raw


def download_torchvision(title: str, load: Callable[[], dict[str, Any]],
                         alternative: str = "") -> dict[str, Any]:
    """torchvision's ImageNet weights for `title`, via load() (a WeightsEnum.get_state_dict).

    torchvision downloads them once into torch's hub cache; without internet (or with a broken
    cache file) this raises one FastNSTError line saying how to get them. alternative: more
    options to name in that message (e.g. "--vgg-weights caffe").
    """
    try:
        return load()
    except Exception as err:  # urllib/SSL/OSError/hash mismatch: all mean "no usable file"
        others = f", {alternative}," if alternative else ""
        raise FastNSTError(
            f"cannot download torchvision's {title} weights ({first_line(err)}); download them "
            f"once where there is internet (they are cached in {torch.hub.get_dir()}){others} "
            "or pass --vgg-weights PATH to a state dict") from None


def from_torchvision_layout(raw: Mapping[str, Any], names: Sequence[str]) -> dict[str, Any]:
    """A torchvision model's state dict, or its `.features`' -> our layer names.

    torchvision numbers the modules of `.features` 0, 1, ...; ours are the same modules in the
    same order, so `features.<i>.<rest>` (or `<i>.<rest>`) becomes `<names[i]>.<rest>`. Keys
    outside `.features` (the classifier) are dropped.
    """
    prefix = "features." if any(key.startswith("features.") for key in raw) else ""
    state = {}
    for key, value in raw.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix):].partition(".")
        if index.isdigit() and int(index) < len(names):
            state[f"{names[int(index)]}.{rest}"] = value
        else:
            state[key] = value  # reported as unexpected by load_checked
    return state


def load_checked(layers: nn.Module, state: Mapping[str, Any], title: str, source: str) -> None:
    """Load `state` into `layers`, or raise one FastNSTError line naming the first mismatch."""
    expected = layers.state_dict()
    missing = [key for key in expected if key not in state]
    extra = [key for key in state if key not in expected]
    reshaped = [key for key in expected if key in state and (
        not isinstance(state[key], torch.Tensor) or state[key].shape != expected[key].shape)]
    if missing:
        problem = f"missing {missing[0]}"
    elif reshaped:
        key = reshaped[0]
        value = state[key]
        found = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        problem = f"{key} is {found}, expected {tuple(expected[key].shape)}"
    elif extra:
        problem = f"unexpected {extra[0]}"
    else:
        layers.load_state_dict({key: state[key].float() for key in expected})
        return
    raise FastNSTError(f"{source}: not a {title} state dict ({problem})")
