"""Choosing a torch device from a command-line string, waiting for it, and what it computes
natively."""

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


def native_bf16(device: torch.device) -> bool:
    """Whether `device` computes bfloat16 convolutions natively: a CUDA GPU that supports bf16,
    or a CPU with AVX512-BF16 or AMX tiles (oneDNN's bf16 kernels). Elsewhere bf16 is emulated
    and slower than float32."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:  # private probes (torch.cpu), absent from some builds: then assume no
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:
        return False
