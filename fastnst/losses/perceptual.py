"""The perceptual loss as a sum of named, weighted terms.

A term (content, style, tv today; masked style, affine, temporal later) says which
loss-network layers it reads from the output, what targets it needs from the content images
(computed once per batch, without autograd), and how it scores an output. `PerceptualLoss`
runs the loss network once per call for all terms and returns `LossTerms`, a name -> weighted
value mapping: training logs each as `train/<name>` and the slow optimiser reports them, so
a new term needs no change there. Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from fastnst.losses.functional import content_loss, gram_loss, gram_matrix, total_variation

Features = Mapping[str, torch.Tensor]  # loss-network layer name -> (N, C, H, W) activation


class LossTerm(nn.Module, ABC):
    """One named part of the loss, multiplied by `weight` in the total.

    Subclasses set `name` and `layers` (the output's loss-network layers they read) and
    implement `forward`; `content_layers` / `content_targets` when they compare against
    the content images.
    """

    name: str = ""
    layers: tuple[str, ...] = ()
    content_layers: tuple[str, ...] = ()

    def __init__(self, weight: float) -> None:
        super().__init__()
        self.weight = float(weight)

    def content_targets(self, content: torch.Tensor, features: Features) -> dict[str, Any]:
        """Targets from the content images (N, 3, H, W) and their features at
        `content_layers`; called without autograd. Default: none."""
        return {}

    @abstractmethod
    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        """The unweighted float32 scalar for output images (N, 3, H, W) in [0, 1]."""


class ContentTerm(LossTerm):
    """Sum over layers of the MSE between output and content features (Johnson et al.)."""

    name = "content"

    def __init__(self, layers: Sequence[str], weight: float) -> None:
        super().__init__(weight)
        self.layers = self.content_layers = tuple(layers)

    def content_targets(self, content: torch.Tensor, features: Features) -> dict[str, Any]:
        return {f"content/{layer}": features[layer] for layer in self.layers}

    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        return torch.stack([content_loss(features[layer], targets[f"content/{layer}"])
                            for layer in self.layers]).sum()


# targets[STYLE_INDEX]: (N,) int64, the style each output image is scored against (a
# multi-style StyleTerm; absent: the first style).
STYLE_INDEX = "style/index"


class StyleTerm(LossTerm):
    """Sum over layers of layer_weight * MSE(Gram(output), Gram(style)) (Gatys et al.).

    style_features: the style image's features at `layers`, or a list of them for several
    styles (multi-style training: each output image is scored against the style
    targets[STYLE_INDEX] names); the Grams are kept as buffers. Without layer_weights each
    layer gets 1 / mean(G_style^2) of each style, so every layer's term is its Gram error
    relative to the style's own Gram: the layers count equally although their Gram
    magnitudes differ by ~10^4, and the term does not depend on the network's input scale.
    """

    name = "style"

    def __init__(self, style_features: Features | Sequence[Features], layers: Sequence[str],
                 weight: float, layer_weights: Sequence[float] | None = None) -> None:
        super().__init__(weight)
        self.layers = tuple(layers)
        styles = [style_features] if isinstance(style_features, Mapping) else style_features
        self.num_styles = len(styles)
        # {layer: (K, C, C)}: one Gram per style
        grams = {layer: torch.cat([gram_matrix(style[layer]) for style in styles])
                 for layer in self.layers}
        for index, gram in enumerate(grams.values()):
            self.register_buffer(f"gram_{index}", gram, persistent=False)
        if layer_weights is None:  # (K, L): relative errors per style and layer
            weights = torch.stack([gram.pow(2).mean(dim=(1, 2)).clamp_min(1e-12).reciprocal()
                                   for gram in grams.values()], dim=1)
        else:
            weights = torch.tensor([list(map(float, layer_weights))] * len(styles))
        self.register_buffer("weights", weights.float(), persistent=False)
        self.layer_weights = dict(zip(self.layers, map(float, weights[0]), strict=True))

    @property
    def target_grams(self) -> dict[str, torch.Tensor]:
        """{layer: (1, C, C) float32 Gram of the (first) style image}."""
        return {layer: getattr(self, f"gram_{i}")[:1] for i, layer in enumerate(self.layers)}

    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        if self.num_styles == 1:
            grams = self.target_grams
            return torch.stack([weight * gram_loss(features[layer], grams[layer])
                                for layer, weight in self.layer_weights.items()]).sum()
        index = targets[STYLE_INDEX]  # (N,)
        weights = self.weights[index]  # (N, L)
        per_image = torch.stack([
            gram_loss(features[layer], getattr(self, f"gram_{i}")[index], reduce=False)
            for i, layer in enumerate(self.layers)], dim=1)  # (N, L)
        return (weights * per_image).sum(dim=1).mean()


class TotalVariationTerm(LossTerm):
    """Total variation of the output (smoothness prior; Johnson et al. sec. 3.3)."""

    name = "tv"

    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        return total_variation(output)


@dataclass(frozen=True)
class LossTerms(Mapping[str, torch.Tensor]):
    """Weighted loss terms by name (each a float32 scalar tensor) and their sum."""

    values: dict[str, torch.Tensor]

    def __getitem__(self, name: str) -> torch.Tensor:
        return self.values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.values)

    def __len__(self) -> int:
        return len(self.values)

    @property
    def total(self) -> torch.Tensor:
        return torch.stack(list(self.values.values())).sum()

    def floats(self) -> dict[str, float]:
        """{name: value} as Python floats, plus "total" (for reports and progress bars)."""
        return {**{name: value.item() for name, value in self.values.items()},
                "total": self.total.item()}


class PerceptualLoss(nn.Module):
    """sum(term.weight * term(output)) over `terms`, with one loss-network pass per call.

    network: a frozen loss network, network(images, layers) -> {layer: activation}
    (fastnst.lossnets). It is a submodule, so `.to(device)` moves it with the style Grams.
    """

    def __init__(self, network: nn.Module, terms: Sequence[LossTerm]) -> None:
        super().__init__()
        names = [term.name for term in terms]
        if len(set(names)) != len(names):
            raise ValueError(f"loss term names must be unique, got {names}")
        self.network = network
        self.terms = nn.ModuleList(terms)
        self.layers = tuple(dict.fromkeys(layer for term in terms for layer in term.layers))
        self.content_layers = tuple(dict.fromkeys(layer for term in terms
                                                  for layer in term.content_layers))

    def term(self, name: str) -> LossTerm:
        """The term called `name` (KeyError if absent)."""
        for term in self.terms:
            if term.name == name:
                return term  # type: ignore[return-value]
        raise KeyError(name)

    def content_targets(self, content: torch.Tensor) -> dict[str, Any]:
        """Every term's targets for content images (N, 3, H, W) in [0, 1], without autograd."""
        with torch.no_grad():
            features = self.network(content, self.content_layers) if self.content_layers else {}
            targets: dict[str, Any] = {}
            for term in self.terms:
                targets.update(term.content_targets(content, features))
        return targets

    def forward(self, output: torch.Tensor, targets: Mapping[str, Any]) -> LossTerms:
        """output: (N, 3, H, W) in [0, 1]; targets from content_targets(). Terms are batch
        means, so the total does not grow with N."""
        features = self.network(output, self.layers) if self.layers else {}
        return LossTerms({term.name: term.weight * term(output, features, targets)
                          for term in self.terms})
