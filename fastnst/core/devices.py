"""Choosing a torch device from a command-line string, and waiting for it."""

from __future__ import annotations

import torch

from fastnst.core.errors import ParameterError


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ParameterError("device", f"must be auto, cpu or cuda[:N], not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ParameterError("device", f"{device}: no CUDA GPU is available")
    return resolved


def synchronize(device: torch.device) -> None:
    """Wait for queued work on a CUDA device (timings need it); a no-op elsewhere."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
