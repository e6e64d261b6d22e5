"""Frozen loss networks that return named activations (VGG19, VGG16, SqueezeNet 1.1).

Each network takes float RGB images in [0, 1], NCHW, and converts them to its weights' input
convention itself.
"""

from __future__ import annotations

from torch import nn

from fastnst.core.errors import FastNSTError


def build_loss_network(name: str, weights: str, pooling: str = "max") -> nn.Module:
    """A frozen loss network by name ('vgg19', 'vgg16', 'squeezenet').

    weights: 'caffe' (VGG19 only), 'torchvision' or a state-dict path. pooling: 'max' or
    'avg' (VGG only).
    """
    if name == "vgg19":
        from fastnst.nets.vgg import VGG19Features

        return VGG19Features(weights, pooling)
    raise FastNSTError(f"unknown loss network {name!r}")
