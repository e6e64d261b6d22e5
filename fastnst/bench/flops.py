"""FLOPs of the nets (torch's FlopCounterMode), and the device peaks they are compared with.

Used by `fastnst-bench` for its share-of-peak column; FLOP_COUNTING states the method and goes
into bench.json.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from fastnst.bench.timing import Measurement
from fastnst.models.johnson import TransformerNet

FLOP_COUNTING = (
    "torch.utils.flop_counter.FlopCounterMode on a meta-device copy of each net (shapes only, "
    "no arithmetic): convolutions at 2 * N * H_out * W_out * C_out * (C_in / groups) * k_h * "
    "k_w FLOPs each (the nets have no matrix products). Norms, activations, padding, "
    "upsampling and Gram matrices are left out (a few % of the total). Training FLOPs per "
    "image = 3 * transform-net forward (forward + backward for inputs and weights) + VGG "
    "forward to the content layers (content targets) + 2 * VGG forward to the deepest loss "
    "layer (forward + input-gradient backward; the VGG weights are frozen)."
)

# Dense (no-sparsity) peaks in TFLOP/s from NVIDIA's data sheets: (name part, bf16/fp16
# tensor cores, tf32 tensor cores, fp32 CUDA cores). First match wins, so specific names
# come before general ones ("H100" alone is the SXM part: "NVIDIA H100 80GB HBM3").
GPU_PEAK_TFLOPS: tuple[tuple[str, float, float, float], ...] = (
    ("H200", 989.0, 494.0, 67.0),
    ("H100 PCIe", 756.0, 378.0, 51.0),
    ("H100 NVL", 835.0, 418.0, 60.0),
    ("H100", 989.0, 494.0, 67.0),
    ("A100", 312.0, 156.0, 19.5),
    ("L40S", 362.0, 183.0, 91.6),
    ("L4", 121.0, 60.0, 30.3),
    ("RTX 4090", 165.0, 82.6, 82.6),
)


def forward_flops(model: nn.Module, input_shape: Sequence[int],
                  call: Callable[[nn.Module, torch.Tensor], Any] | None = None) -> int:
    """FLOPs of one forward pass of `model` as torch's FlopCounterMode counts them.

    Runs a copy of `model` on the meta device (shapes only, no arithmetic); input_shape is
    (N, C, H, W). call(model, x) runs the forward (default model(x)).
    """
    meta = copy.deepcopy(model).to("meta")
    x = torch.empty(*input_shape, device="meta")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        (call or (lambda m, t: m(t)))(meta, x)
    return int(counter.get_total_flops())


def transformer_flops(width: float, height: int, width_px: int) -> int:
    """FLOPs of one TransformerNet(width) forward on a height x width_px image."""
    with torch.device("meta"):
        net = TransformerNet(width)
    return forward_flops(net, (1, 3, height, width_px))


def train_flops_per_image(width: float, size: int, vgg: nn.Module,
                          content_layers: Sequence[str], loss_layers: Sequence[str]) -> int:
    """Training FLOPs per size x size image (see FLOP_COUNTING): 3 T + V(content) + 2 V(loss)."""
    shape = (1, 3, size, size)

    def vgg_flops(layers: Sequence[str]) -> int:
        return forward_flops(vgg, shape, lambda m, x: m(x, tuple(layers)))

    return (3 * transformer_flops(width, size, size) + vgg_flops(content_layers)
            + 2 * vgg_flops(loss_layers))


def device_peak(device: torch.device) -> dict[str, Any]:
    """Peak FLOP/s assumed for share-of-peak: the GPU table, or a measured CPU fp32 matmul."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for part, bf16, tf32, fp32 in GPU_PEAK_TFLOPS:
            if part in name:
                return {"bf16_tflops": bf16, "fp16_tflops": bf16, "tf32_tflops": tf32,
                        "fp32_tflops": fp32, "source": f"NVIDIA data sheet for {part}, dense"}
        return {"source": f"unknown: {name} is not in fastnst.flops.GPU_PEAK_TFLOPS"}
    return {"fp32_tflops": _cpu_matmul_tflops(),
            "source": f"measured: best of 5 fp32 torch.mm {_PEAK_N}x{_PEAK_N}, "
                      f"{torch.get_num_threads()} threads, before the rows and after each"}


_PEAK_N = 2048  # 17 GFLOP a call: long enough to time, ~0.1-0.2 s on 2 cores


def _cpu_matmul_tflops() -> float:
    """Best of 5 fp32 (2048 x 2048) @ (2048 x 2048) products on the CPU, in TFLOP/s."""
    a, b = torch.randn(_PEAK_N, _PEAK_N), torch.randn(_PEAK_N, _PEAK_N)
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return round(2 * _PEAK_N**3 / best / 1e12, 4)


def share_of_peak(row: Measurement, peak: dict[str, Any], device: torch.device) -> None:
    """Set row.peak_tflops and row.peak_share against the peak known now.

    On the CPU the peak is a measurement too, and one taken while the machine was busy
    (another job on a shared VM) is low: a row measured later, when it was idle, then
    showed over 100% of "peak". So the CPU peak is measured again right after each row and
    `peak` (the report's) keeps the best seen; a row still above it is marked unreliable
    (peak_share None, `peak_share_unreliable` holds the figure) rather than printed as a
    share over 1. GPU peaks come from data sheets and are not re-measured.
    """
    if device.type == "cpu" and "fp32_tflops" in peak:
        peak["fp32_tflops"] = max(peak["fp32_tflops"], _cpu_matmul_tflops())
    row.peak_tflops = peak_for(peak, row.precision, device)
    share = row.tflops / row.peak_tflops if row.peak_tflops else None
    row.peak_share = None if share is None else round(share, 4)
    if share is not None and share > 1.0:
        row.peak_share = None
        row.extra["peak_share_unreliable"] = round(share, 4)


def peak_for(peak: dict[str, Any], precision: str, device: torch.device) -> float | None:
    """The peak TFLOP/s that bounds a measurement in `precision` on `device`."""
    if precision == "fp32" and device.type == "cuda" and torch.backends.cudnn.allow_tf32:
        return peak.get("tf32_tflops")  # cuDNN runs fp32 convs on TF32 tensor cores by default
    return peak.get(f"{precision}_tflops")
