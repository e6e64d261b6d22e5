"""Johnson et al. (2016) image transformation network, with the usual fixes.

Instance norm instead of batch norm (Ulyanov et al. 2016), reflection padding, and
nearest-neighbour upsampling + conv instead of transposed convs, which avoids checkerboard
artifacts (Odena et al. 2016). Images are float RGB in [0, 1], NCHW.

A net built with strength_conditioned=True (fastnst-train --strength-conditioned) takes the
style strength s in [0, 1] as a second input: its instance norms are conditional
(ConditionalInstanceNorm2d) and its output is gated by s, so s = 0 returns the photo and
s = 1 the full style; see TransformerNet.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.models.registry import register

# The two stride-2 convs divide the size by 4, and the 9x9 reflection pads need >= 5 px:
# inputs are padded to a multiple of 4 and at least 8 px, and the output cropped back.
_SIZE_MULTIPLE = 4
_MIN_SIZE = 8


def pad_input(images: torch.Tensor) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom/right to multiples of 4, at least 8 px a side.

    Reflection where the image is larger than the pad (it needs pad < size), else replication.
    The ONNX backend applies this same function to tiny inputs before its traced graph, so
    both backends agree at every size.
    """
    height, width = images.shape[-2:]
    pad_h = max(_MIN_SIZE, height + -height % _SIZE_MULTIPLE) - height
    pad_w = max(_MIN_SIZE, width + -width % _SIZE_MULTIPLE) - width
    if not (pad_h or pad_w):
        return images
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(images, (0, pad_w, 0, pad_h), mode=mode)


class TakesStrength(nn.Module):
    """Marker: a layer whose forward is (x, strength) with strength (S,) float32 in [0, 1]
    (S = 1 or N) or None (an unconditioned net)."""


def run_layers(layers: Iterable[nn.Module], x: torch.Tensor,
               strength: torch.Tensor | None) -> torch.Tensor:
    """Apply `layers` in order, passing `strength` to those that take it (TakesStrength)."""
    for layer in layers:
        x = layer(x, strength) if isinstance(layer, TakesStrength) else layer(x)
    return x


class ConditionalInstanceNorm2d(TakesStrength):
    """Instance norm whose affine parameters depend on the style strength s in [0, 1].

    gamma(s) = (1 - s) * gamma_0 + s * gamma_1 and beta(s) likewise: the conditional instance
    norm of Dumoulin, Shlens and Kudlur 2017 ("A Learned Representation for Artistic Style",
    ICLR), which keeps one (gamma, beta) per style and mixes styles by this convex combination
    (their sec. 4.3); here the two styles are "no style" (row 0 of `weight` and `bias`) and
    "full style" (row 1). Both rows start at gamma = 1, beta = 0; training with a strength
    drawn per batch pulls them apart. The normalisation itself is a plain
    nn.InstanceNorm2d without affine parameters (`norm`), so hooks that record or replace
    instance-norm statistics (fastnst.inference.tiling) work unchanged.
    x: (N, C, H, W); strength: (S,) with S = 1 or N, float in [0, 1].
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.weight = nn.Parameter(torch.ones(2, channels))  # (no style, full style) x C
        self.bias = nn.Parameter(torch.zeros(2, channels))

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None) -> torch.Tensor:
        s = (torch.ones(1, device=x.device) if strength is None else strength).reshape(-1, 1)
        weight = (1 - s) * self.weight[0] + s * self.weight[1]  # (S, C)
        bias = (1 - s) * self.bias[0] + s * self.bias[1]
        return self.norm(x) * weight[:, :, None, None] + bias[:, :, None, None]


class ConvLayer(nn.Sequential, TakesStrength):
    """Reflection pad + conv (+ instance norm + ReLU); conditional instance norm when
    `conditioned`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm: bool = True, relu: bool = True, conditioned: bool = False) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        ]
        if norm:
            layers.append(ConditionalInstanceNorm2d(out_channels) if conditioned
                          else nn.InstanceNorm2d(out_channels, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        return run_layers(self, x, strength)


class ResidualBlock(TakesStrength):
    """x + IN(conv(ReLU(IN(conv(x))))), channels unchanged (He et al. 2016, as in Johnson)."""

    def __init__(self, channels: int, conditioned: bool = False) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3, conditioned=conditioned),
            ConvLayer(channels, channels, 3, relu=False, conditioned=conditioned),
        )

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        return x + run_layers(self.body, x, strength)


class UpsampleConv(nn.Sequential, TakesStrength):
    """Nearest-neighbour 2x upsampling + conv + IN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, conditioned: bool = False) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"),
                         ConvLayer(in_channels, out_channels, 3, conditioned=conditioned))

    def forward(self, x: torch.Tensor, strength: torch.Tensor | None = None) -> torch.Tensor:
        return run_layers(self, x, strength)


@register("johnson")
class TransformerNet(nn.Module):
    """Feed-forward style network: (N, 3, H, W) RGB in [0, 1] -> same shape, in [0, 1].

    width scales the channel counts (1.0: 32/64/128 as in Johnson et al.); any H, W >= 1 works,
    odd ones included, and the output has exactly the input's size.

    strength_conditioned: forward takes a second input, the style strength s in [0, 1]
    ((S,) float32 with S = 1 or N, or a float; default 1). Every instance norm is a
    ConditionalInstanceNorm2d, and the output is (1 - s) * photo + s * net_s(photo): the gate
    makes s = 0 the photo itself (exactly, in every backend) and the strength continuous,
    while the conditional norms make net_s its own stylization at each strength, trained
    with the style weight scaled by s (fastnst.training.module), rather than a pixel blend
    of the full one. At s = 1 the output is net_1(photo), as for an unconditioned net.
    """

    def __init__(self, width: float = 1.0, num_residual: int = 5,
                 strength_conditioned: bool = False) -> None:
        super().__init__()
        self.width = width
        self.num_residual = num_residual
        self.strength_conditioned = strength_conditioned
        cond = strength_conditioned
        c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))
        self.encoder = nn.Sequential(
            ConvLayer(3, c1, 9, conditioned=cond),
            ConvLayer(c1, c2, 3, stride=2, conditioned=cond),
            ConvLayer(c2, c3, 3, stride=2, conditioned=cond),
        )
        self.residuals = nn.Sequential(*[ResidualBlock(c3, conditioned=cond)
                                         for _ in range(num_residual)])
        self.decoder = nn.Sequential(
            UpsampleConv(c3, c2, conditioned=cond),
            UpsampleConv(c2, c1, conditioned=cond),
            ConvLayer(c1, 3, 9, norm=False, relu=False),
        )

    @property
    def arch(self) -> dict[str, str | float | int | bool]:
        """Architecture name and constructor arguments, enough to rebuild the network
        (stored in checkpoints; see fastnst.models.registry). strength_conditioned is
        recorded only when true, so unconditioned files stay readable by older fastnst."""
        arch: dict[str, str | float | int | bool] = {
            "name": "johnson", "width": self.width, "num_residual": self.num_residual}
        if self.strength_conditioned:
            arch["strength_conditioned"] = True
        return arch

    def forward(self, images: torch.Tensor,
                strength: torch.Tensor | float | None = None) -> torch.Tensor:
        """images: (N, 3, H, W) in [0, 1]; strength: see the class docstring (conditioned
        nets only; an unconditioned net refuses it: blend its output instead)."""
        height, width = images.shape[-2:]
        s: torch.Tensor | None = None
        if self.strength_conditioned:
            s = torch.as_tensor(1.0 if strength is None else strength, dtype=torch.float32,
                                device=images.device).reshape(-1)  # (S,)
        elif strength is not None:
            raise TypeError("this net was not trained with strength conditioning; blend its "
                            "output with the photo instead (fastnst.inference.Stylizer does)")
        x = pad_input(images)
        for part in (self.encoder, self.residuals, self.decoder):
            x = run_layers(part, x, s)
        # Sigmoid keeps the output in [0, 1] (Johnson uses a scaled tanh for 0-255 output).
        out = torch.sigmoid(x[..., :height, :width])
        if s is None:
            return out
        gate = s[:, None, None, None]  # (S,) -> (S, 1, 1, 1), broadcast over N and pixels
        # This form is exact at both ends: the photo at s = 0, net_1's output at s = 1.
        return (1 - gate) * images + gate * out
