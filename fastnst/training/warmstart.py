"""The transform net a run trains: new, or warm-started from a model (`--init`), single- or
multi-style, with every weight or only the instance norms trainable (`--trainable`).

A style lives mostly in the instance norms' scales and shifts (Dumoulin et al. 2017, "A
Learned Representation for Artistic Style"): a multi-style net shares its convolutions and
keeps one norm row per style, and a new style can be added to it by training only a new row.
Rules (TrainConfig.style names the styles this run trains):

- no --init: a fresh net; one style -> a plain net, several -> a multi-style net.
- --init a plain model: its convolutions and norms start every style of the new net.
- --init a multi-style model: the new net keeps its convolutions; a style it already has
  starts from its own row, a new style from the mean of its rows. With --trainable norms
  the convolutions stay as they are, so the result is that model with the new styles added
  (its other styles unchanged); with --trainable all they change, so the result holds only
  the styles this run trains.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from fastnst.core.errors import FastNSTError
from fastnst.models.checkpoint import load_model
from fastnst.models.johnson import ConditionalInstanceNorm2d, TransformerNet
from fastnst.training.train_config import TrainConfig


def is_norm_parameter(name: str, net: nn.Module) -> bool:
    """Whether parameter `name` of `net` is an instance norm's scale or shift."""
    module = net.get_submodule(name.rpartition(".")[0])
    return isinstance(module, (nn.InstanceNorm2d, ConditionalInstanceNorm2d))


def _norm_rows(net: TransformerNet) -> dict[str, torch.Tensor]:
    """{parameter name: (R, C) norm rows} of a net; a plain net's affine norms as one row."""
    return {name: value.detach()[None] if value.dim() == 1 else value.detach()
            for name, value in net.named_parameters() if is_norm_parameter(name, net)}


def _check_compatible(config: TrainConfig, init: nn.Module) -> TransformerNet:
    if not isinstance(init, TransformerNet):
        raise FastNSTError(f"--init {config.init}: a {type(init).__name__} net, not a Johnson "
                           "transform net")
    if init.width != config.width:
        raise FastNSTError(f"--init {config.init} has width {init.width:g}; this run's --width "
                           f"is {config.width:g} (give --width {init.width:g})")
    if init.strength_conditioned != config.strength_conditioned:
        kind = "is" if init.strength_conditioned else "is not"
        raise FastNSTError(f"--init {config.init} {kind} strength-conditioned; so must this run "
                           "be (--strength-conditioned)")
    return init


def build_transformer(config: TrainConfig) -> tuple[TransformerNet, list[int], dict[str, Any]]:
    """(net to train, the norm row of each --style in it (empty for a plain net), the init
    model's metadata (empty without --init)). Frozen weights have requires_grad False."""
    names = config.style_names
    if config.init is None:
        if config.trainable == "norms":
            raise FastNSTError("--trainable norms needs --init (a model whose convolutions "
                               "to keep)")
        styles = names if len(names) > 1 else ()
        net = TransformerNet(width=config.width, strength_conditioned=config.strength_conditioned,
                             styles=styles)
        return net, list(range(len(styles))), {}
    init_net, init_meta = load_model(config.init)
    init = _check_compatible(config, init_net)
    if init.styles and config.trainable == "norms":
        styles = [*init.styles, *(name for name in names if name not in init.styles)]
    else:
        styles = names
    net = TransformerNet(width=init.width, num_residual=init.num_residual,
                         strength_conditioned=init.strength_conditioned,
                         styles=styles if len(styles) > 1 else ())
    # Convolutions are copied as they are; each style's norm row from the init's own row for
    # that style, else the mean of its rows (a plain init: its one row).
    source_rows = _norm_rows(init)
    state = {key: value for key, value in init.state_dict().items() if key not in source_rows}
    for key, rows in source_rows.items():
        def start(name: str, rows: torch.Tensor = rows) -> torch.Tensor:
            """The starting norm parameters of style `name` (see the module docstring)."""
            if not init.styles:  # a plain net's one row, or a strength-conditioned net's two
                return rows[0] if rows.shape[0] == 1 else rows
            if name in init.styles:
                return rows[init.styles.index(name)]
            return rows.mean(dim=0)

        state[key] = (torch.stack([start(name) for name in net.styles]) if net.styles
                      else start(names[0]))
    net.load_state_dict(state)
    if config.trainable == "norms":
        for name, parameter in net.named_parameters():
            parameter.requires_grad_(is_norm_parameter(name, net))
    rows = [net.styles.index(name) for name in names] if net.styles else []
    return net, rows, init_meta
