"""Johnson et al. (2016) image transformation network, with the usual fixes.

Instance norm instead of batch norm (Ulyanov et al. 2016), reflection padding, and
nearest-neighbour upsampling + conv instead of transposed convs, which avoids checkerboard
artifacts (Odena et al. 2016). Images are float RGB in [0, 1], NCHW.

A net built with strength_conditioned=True (fastnst-train --strength-conditioned) takes the
style strength s in [0, 1] as a second input: its instance norms are conditional
(ConditionalInstanceNorm2d) and its output is gated by s, so s = 0 returns the photo and
s = 1 the full style; see TransformerNet.

A multi-style net (styles=("candy", "wave", ...), fastnst-train --style a.jpg b.jpg ...)
shares every conv between its styles and keeps one instance-norm scale and shift per style
(Dumoulin et al. 2017). It is used through `select_style`, which bakes one style, or a convex
mix of styles, into a plain single-style net: every inference path (tiling, ONNX, the web
site) then runs an ordinary Johnson net.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.core.errors import FastNSTError
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
    """Marker: a layer whose forward is (x, mix) with mix (S, R) float32, the weights of the
    R rows of its conditional instance norms (S = 1 or N), or None (a plain net)."""


def run_layers(layers: Iterable[nn.Module], x: torch.Tensor,
               mix: torch.Tensor | None) -> torch.Tensor:
    """Apply `layers` in order, passing the row weights `mix` to those that take them
    (TakesStrength)."""
    for layer in layers:
        x = layer(x, mix) if isinstance(layer, TakesStrength) else layer(x)
    return x


class ConditionalInstanceNorm2d(TakesStrength):
    """Instance norm with R rows of affine parameters, mixed per image by weights w (S, R).

    gamma = sum_r w_r * gamma_r and beta likewise: the conditional instance norm of Dumoulin,
    Shlens and Kudlur 2017 ("A Learned Representation for Artistic Style", ICLR), which keeps
    one (gamma, beta) per style and mixes styles by this convex combination (their sec. 4.3).
    A strength-conditioned net has two rows, "no style" and "full style", mixed as
    (1 - s, s); a multi-style net has one row per style. Rows start at gamma = 1, beta = 0.
    The normalisation itself is a plain nn.InstanceNorm2d without affine parameters (`norm`),
    so hooks that record or replace instance-norm statistics (fastnst.inference.tiling) work
    unchanged. x: (N, C, H, W); mix: (S, R) with S = 1 or N.
    """

    def __init__(self, channels: int, rows: int = 2) -> None:
        super().__init__()
        self.norm = nn.InstanceNorm2d(channels, affine=False)
        self.weight = nn.Parameter(torch.ones(rows, channels))  # rows x C
        self.bias = nn.Parameter(torch.zeros(rows, channels))

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None) -> torch.Tensor:
        if mix is None:  # the last row: "full style" of a strength-conditioned net
            mix = F.one_hot(torch.tensor([self.weight.shape[0] - 1], device=x.device),
                            self.weight.shape[0]).float()
        weight = mix.to(self.weight.dtype) @ self.weight  # (S, R) @ (R, C) -> (S, C)
        bias = mix.to(self.bias.dtype) @ self.bias
        return self.norm(x) * weight[:, :, None, None] + bias[:, :, None, None]


class ConvLayer(nn.Sequential, TakesStrength):
    """Reflection pad + conv (+ instance norm + ReLU); conditional instance norm when
    `conditioned`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 norm: bool = True, relu: bool = True, conditioned: int = 0) -> None:
        """conditioned: rows of a conditional instance norm (0: a plain affine one)."""
        layers: list[nn.Module] = [
            nn.ReflectionPad2d(kernel_size // 2),
            nn.Conv2d(in_channels, out_channels, kernel_size, stride),
        ]
        if norm:
            layers.append(ConditionalInstanceNorm2d(out_channels, conditioned) if conditioned
                          else nn.InstanceNorm2d(out_channels, affine=True))
        if relu:
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return run_layers(self, x, mix)


class ResidualBlock(TakesStrength):
    """x + IN(conv(ReLU(IN(conv(x))))), channels unchanged (He et al. 2016, as in Johnson)."""

    def __init__(self, channels: int, conditioned: int = 0) -> None:
        super().__init__()
        self.body = nn.Sequential(
            ConvLayer(channels, channels, 3, conditioned=conditioned),
            ConvLayer(channels, channels, 3, relu=False, conditioned=conditioned),
        )

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return x + run_layers(self.body, x, mix)


class UpsampleConv(nn.Sequential, TakesStrength):
    """Nearest-neighbour 2x upsampling + conv + IN + ReLU."""

    def __init__(self, in_channels: int, out_channels: int, conditioned: int = 0) -> None:
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"),
                         ConvLayer(in_channels, out_channels, 3, conditioned=conditioned))

    def forward(self, x: torch.Tensor, mix: torch.Tensor | None = None) -> torch.Tensor:
        return run_layers(self, x, mix)


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

    styles: the style names of a multi-style net (two or more): every instance norm is a
    ConditionalInstanceNorm2d with one row per style, and forward takes `style`, the weights
    of the styles ((K,) or (N, K) float, K = len(styles); one-hot: one style; a convex
    combination: a mix). For inference, `select_style` makes a plain net of one style or mix.
    """

    def __init__(self, width: float = 1.0, num_residual: int = 5,
                 strength_conditioned: bool = False, styles: Sequence[str] = ()) -> None:
        super().__init__()
        if strength_conditioned and styles:
            raise ValueError("a net is either strength-conditioned or multi-style, not both")
        if len(styles) == 1 or len(set(styles)) != len(styles):
            raise ValueError(f"a multi-style net needs two or more distinct style names, "
                             f"got {list(styles)}")
        self.width = width
        self.num_residual = num_residual
        self.strength_conditioned = strength_conditioned
        self.styles = tuple(str(name) for name in styles)
        rows = 2 if strength_conditioned else len(self.styles)  # 0: plain affine norms
        c1, c2, c3 = (max(1, round(c * width)) for c in (32, 64, 128))
        self.encoder = nn.Sequential(
            ConvLayer(3, c1, 9, conditioned=rows),
            ConvLayer(c1, c2, 3, stride=2, conditioned=rows),
            ConvLayer(c2, c3, 3, stride=2, conditioned=rows),
        )
        self.residuals = nn.Sequential(*[ResidualBlock(c3, conditioned=rows)
                                         for _ in range(num_residual)])
        self.decoder = nn.Sequential(
            UpsampleConv(c3, c2, conditioned=rows),
            UpsampleConv(c2, c1, conditioned=rows),
            ConvLayer(c1, 3, 9, norm=False, relu=False),
        )

    @property
    def arch(self) -> dict[str, Any]:
        """Architecture name and constructor arguments, enough to rebuild the network
        (stored in checkpoints; see fastnst.models.registry). strength_conditioned and styles
        are recorded only when set, so plain files stay readable by older fastnst."""
        arch: dict[str, Any] = {
            "name": "johnson", "width": self.width, "num_residual": self.num_residual}
        if self.strength_conditioned:
            arch["strength_conditioned"] = True
        if self.styles:
            arch["styles"] = list(self.styles)
        return arch

    def forward(self, images: torch.Tensor, strength: torch.Tensor | float | None = None,
                style: torch.Tensor | None = None) -> torch.Tensor:
        """images: (N, 3, H, W) in [0, 1]; strength: see the class docstring (conditioned
        nets only; an unconditioned net refuses it: blend its output instead); style: the
        style weights of a multi-style net, (K,) or (N, K) (required there, refused
        elsewhere)."""
        height, width = images.shape[-2:]
        s: torch.Tensor | None = None
        mix: torch.Tensor | None = None
        if self.strength_conditioned:
            s = torch.as_tensor(1.0 if strength is None else strength, dtype=torch.float32,
                                device=images.device).reshape(-1)  # (S,)
            mix = torch.stack([1 - s, s], dim=1)  # (S, 2): rows "no style", "full style"
        elif strength is not None:
            raise TypeError("this net was not trained with strength conditioning; blend its "
                            "output with the photo instead (fastnst.inference.Stylizer does)")
        if self.styles:
            if style is None:
                raise TypeError(f"a multi-style net needs the style weights (styles: "
                                f"{', '.join(self.styles)}); or use select_style()")
            mix = style.to(device=images.device, dtype=torch.float32).reshape(
                -1, len(self.styles))  # (S, K)
        elif style is not None:
            raise TypeError("this net has one style; style weights are for multi-style nets")
        x = pad_input(images)
        for part in (self.encoder, self.residuals, self.decoder):
            x = run_layers(part, x, mix)
        # Sigmoid keeps the output in [0, 1] (Johnson uses a scaled tanh for 0-255 output).
        out = torch.sigmoid(x[..., :height, :width])
        if s is None:
            return out
        gate = s[:, None, None, None]  # (S,) -> (S, 1, 1, 1), broadcast over N and pixels
        # This form is exact at both ends: the photo at s = 0, net_1's output at s = 1.
        return (1 - gate) * images + gate * out


def parse_style_mix(text: str, styles: Sequence[str]) -> dict[str, float]:
    """'la_muse' -> {'la_muse': 1.0}; 'la_muse=0.7,wave=0.3' -> those weights, scaled to sum
    to 1. Raises FastNSTError naming the problem (an unknown style, a negative or malformed
    weight, weights summing to 0)."""
    known = ", ".join(styles)
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.strip().partition("=")
        name = name.strip()
        if name not in styles:
            raise FastNSTError(f"no style {name!r} in this multi-style model (styles: {known})")
        try:
            weight = float(value) if sep else 1.0
        except ValueError:
            raise FastNSTError(f"style mix {text!r}: {value!r} is not a number") from None
        if not weight >= 0 or weight == float("inf"):  # also refuses NaN
            raise FastNSTError(f"style mix {text!r}: weights must be >= 0 (got {name}={value})")
        weights[name] = weights.get(name, 0.0) + weight
    total = sum(weights.values())
    if total <= 0:
        raise FastNSTError(f"style mix {text!r}: the weights sum to 0")
    return {name: weight / total for name, weight in weights.items()}


def style_weights(net: TransformerNet, mix: dict[str, float]) -> torch.Tensor:
    """(K,) float32 weights of a multi-style net's styles for {name: weight}."""
    return torch.tensor([mix.get(name, 0.0) for name in net.styles], dtype=torch.float32)


def select_style(net: TransformerNet, mix: dict[str, float]) -> TransformerNet:
    """A plain (single-style) net equal to `net` run with the style weights `mix`
    ({name: weight}, weights summing to 1; parse_style_mix).

    With fixed weights, each conditional norm's scale and shift are constants, so a plain
    affine instance norm computes exactly the same: the copy shares nothing with `net`.
    """
    weights = style_weights(net, mix)[None]  # (1, K)
    plain = TransformerNet(width=net.width, num_residual=net.num_residual)
    state = {}
    for key, value in net.state_dict().items():
        if key.endswith((".weight", ".bias")) and value.dim() == 2 and \
                value.shape[0] == len(net.styles):  # (K, C) norm rows -> (C,)
            # On the rows' device and dtype: the net may be on a GPU or in half precision
            # (the end-of-training score of a multi-style run on CUDA failed here).
            value = (weights.to(value) @ value)[0]
        state[key] = value
    plain.load_state_dict(state)
    return plain.to(next(net.parameters()).device).eval()
