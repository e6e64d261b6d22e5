"""Johnson et al. (2016) image transformation network, with the usual fixes.

Instance norm instead of batch norm (Ulyanov et al. 2016), reflection padding, and
nearest-neighbour upsampling + conv instead of transposed convs, which avoids checkerboard
artifacts (Odena et al. 2016). Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

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


class ConvLayer(nn.Sequential):
    """Reflection pad + conv (+ instance norm + ReLU)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm: bool = True, relu: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        ]
        if norm:
            layers.append(nn.InstanceNorm2d(out_channels, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class ResidualBlock(nn.Module):
    """x + IN(conv(ReLU(IN(conv(x))))), channels unchanged (He et al. 2016, as in Johnson)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3),
            ConvLayer(channels, channels, 3, relu=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class UpsampleConv(nn.Sequential):
    """Nearest-neighbour 2x upsampling + conv + IN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"),
                         ConvLayer(in_channels, out_channels, 3))


@register("johnson")
class TransformerNet(nn.Module):
    """Feed-forward style network: (N, 3, H, W) RGB in [0, 1] -> same shape, in [0, 1].

    width scales the channel counts (1.0: 32/64/128 as in Johnson et al.); any H, W >= 1 works,
    odd ones included, and the output has exactly the input's size.
    """

    def __init__(self, width: float = 1.0, num_residual: int = 5) -> None:
        super().__init__()
        self.width = width
        self.num_residual = num_residual
        c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))
        self.encoder = nn.Sequential(
            ConvLayer(3, c1, 9),
            ConvLayer(c1, c2, 3, stride=2),
            ConvLayer(c2, c3, 3, stride=2),
        )
        self.residuals = nn.Sequential(*[ResidualBlock(c3) for _ in range(num_residual)])
        self.decoder = nn.Sequential(
            UpsampleConv(c3, c2),
            UpsampleConv(c2, c1),
            ConvLayer(c1, 3, 9, norm=False, relu=False),
        )

    @property
    def arch(self) -> dict[str, str | float | int]:
        """Architecture name and constructor arguments, enough to rebuild the network
        (stored in checkpoints; see fastnst.models.registry)."""
        return {"name": "johnson", "width": self.width, "num_residual": self.num_residual}

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        height, width = images.shape[-2:]
        x = self.decoder(self.residuals(self.encoder(pad_input(images))))
        # Sigmoid keeps the output in [0, 1] (Johnson uses a scaled tanh for 0-255 output).
        return torch.sigmoid(x[..., :height, :width])
