"""A loss network run in bfloat16: the same features, about half the time where the hardware
computes bf16 natively.

Pixel optimisation (fastnst-photo) spends nearly all its time in the loss network's forward
and backward passes. Under bf16 autocast its convolutions run in bfloat16 while the image, the
losses and the optimiser stay float32 (fastnst.losses compute with autocast off): on this
project's 2-core AMD EPYC (AVX512-BF16) a VGG19 forward and backward to conv5_1 took 1.8 s
instead of 3.9 s at 512x683 px, and fastnst-photo's results on Luan et al.'s pairs were the
same to 0.001 in masked style error (README, Photorealistic transfer). A CPU without such units
emulates bf16 and is slower than float32, so "auto" uses it only where it is native.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn

from fastnst.core.devices import native_bf16

Precision = Literal["auto", "32", "bf16"]


def resolve_precision(precision: Precision, device: torch.device) -> Literal["32", "bf16"]:
    """'auto' -> 'bf16' where native_bf16(device), else '32'; '32' and 'bf16' as given."""
    if precision == "auto":
        return "bf16" if native_bf16(device) else "32"
    return precision


class Autocast(nn.Module):
    """A loss network (network(images, layers) -> {layer: activation}) run under autocast.

    The features come back as float32 (the losses' dtype), (N, C, h, w) as the wrapped
    network's; gradients flow to the images through the casts. dtype: torch.bfloat16 (the
    only one CPUs autocast convolutions to).
    """

    def __init__(self, network: nn.Module, dtype: torch.dtype = torch.bfloat16) -> None:
        super().__init__()
        self.network = network
        self.dtype = dtype

    def forward(self, images: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
        with torch.autocast(images.device.type, dtype=self.dtype):
            features = self.network(images, layers)
        return {name: value.float() for name, value in features.items()}


def with_precision(network: nn.Module, precision: Precision, device: torch.device) -> nn.Module:
    """The network itself for float32, wrapped in Autocast for bf16 (after resolving 'auto'
    for `device`)."""
    if resolve_precision(precision, device) == "bf16":
        return Autocast(network)
    return network
