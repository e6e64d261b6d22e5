"""Transform-net architectures by name, so a checkpoint can say which one its weights fit.

A checkpoint's architecture field is a dict: {"name": "johnson", **constructor arguments}.
Files from fastnst 0.1 have no "name"; every 0.1 model was a Johnson net. The built-in
architectures register themselves when `fastnst.models` is imported (its __init__ imports
them), so the registry never imports a net.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from torch import nn

from fastnst.core.errors import FastNSTError

LEGACY_ARCHITECTURE = "johnson"  # what a checkpoint without a name holds
_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}
N = TypeVar("N", bound=type[nn.Module])


def register(name: str) -> Callable[[N], N]:
    """Class decorator: make an nn.Module buildable from {"name": name, **kwargs}."""

    def add(cls: N) -> N:
        _ARCHITECTURES[name] = cls
        return cls

    return add


def architecture_names() -> list[str]:
    """The registered names, sorted."""
    return sorted(_ARCHITECTURES)


def build_net(arch: Mapping[str, Any]) -> nn.Module:
    """Instantiate the architecture `arch` names, with its other keys as arguments.

    Raises FastNSTError for an unknown name or arguments the architecture does not take.
    """
    name = arch.get("name", LEGACY_ARCHITECTURE)
    if name not in _ARCHITECTURES:
        raise FastNSTError(f"unknown architecture {name!r} (this fastnst knows "
                           f"{', '.join(sorted(_ARCHITECTURES))}); upgrade fastnst")
    kwargs = {key: value for key, value in arch.items() if key != "name"}
    try:
        return _ARCHITECTURES[name](**kwargs)
    except TypeError as err:
        raise FastNSTError(f"architecture {name!r} does not take {sorted(kwargs)} "
                           f"({err})") from None
