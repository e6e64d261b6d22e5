"""Exporting a trained transform net for inference elsewhere: ONNX (onnxruntime) or TorchScript.

Both graphs are traced from the PyTorch net at an odd sample size, so the net's
pad-to-a-multiple-of-4 step is recorded with amounts computed from the input's shape: the
exported model takes any batch size, height and width (ONNX axes 0, 2, 3 are dynamic) and
returns the input's size, odd sizes included. Inputs under 8 px a side are the exception
(the traced graph always pads by reflection); OnnxStylizer pads those as the torch net does.
Inputs and outputs are float32 RGB, (N, 3, H, W), in [0, 1]. Files are written atomically.
A strength-conditioned net (fastnst-train --strength-conditioned) keeps its second input,
`strength`: float32 (S,) in [0, 1], S = 1 (one strength for the batch) or N (ONNX axis 0 is
dynamic); the TorchScript module takes it as its second argument.

The ONNX graph computes the output conv (9x9, 32 -> 3 channels) in an equivalent form that
onnxruntime's CPU kernels run about 2.5x faster (PhaseConv); same math, equal up to float
rounding.
"""

from __future__ import annotations

import copy
import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.files import atomic_output, check_writable_dir, parent_dir
from fastnst.inference.params import EXPORT_FORMATS
from fastnst.models.checkpoint import load_model, require_one_style, resolve_spec
from fastnst.models.johnson import TransformerNet

FORMATS = EXPORT_FORMATS
# Opset 17 is read by onnxruntime >= 1.11 and has every op the net needs (Pad reflect,
# InstanceNormalization, Resize nearest).
ONNX_OPSET = 17
# Neither side a multiple of 4, so the tracer records the padding branch of the forward.
_SAMPLE_SIZE = (67, 93)
INPUT_NAME, OUTPUT_NAME, STRENGTH_NAME = "images", "stylized", "strength"


def _sample(net: TransformerNet) -> tuple[torch.Tensor, ...]:
    """The tracing inputs: an image, and a strength for a conditioned net."""
    device = next(net.parameters()).device
    images = torch.rand(1, 3, *_SAMPLE_SIZE, device=device)
    if not net.strength_conditioned:
        return (images,)
    return images, torch.full((1,), 0.5, device=device)


class PhaseConv(nn.Module):
    """A reflection-padded k x k stride-1 conv, computed as a stride-2 (k+1) x (k+1) conv with
    one group of output channels per output-pixel phase, then depth-to-space.

    Output pixel (2y + a, 2x + b) of the original conv is output pixel (y, x) of phase (a, b),
    whose kernel is the original shifted by (a, b) inside the larger one (zeros elsewhere).
    That is the same sum of the same products, but a conv with 4x the output channels at a
    quarter of the positions: onnxruntime's kernels are slow for few (here 3) output channels
    (measured on 2 Zen 3 cores at 1024 px, width 1: 1.2 s -> 0.47 s for this layer).
    Takes (N, C, H, W) with even H and W (TransformerNet pads to multiples of 4).
    """

    def __init__(self, pad: nn.ReflectionPad2d, conv: nn.Conv2d) -> None:
        super().__init__()
        k = conv.kernel_size[0]
        assert conv.stride == (1, 1) and conv.kernel_size == (k, k) and k % 2 == 1
        weight = conv.weight.new_zeros(conv.out_channels, 2, 2, conv.in_channels, k + 1, k + 1)
        for a in (0, 1):
            for b in (0, 1):
                weight[:, a, b, :, a:a + k, b:b + k] = conv.weight.detach()
        # (O, 2, 2, C, k+1, k+1) -> (4O, C, k+1, k+1): channel o*4 + 2a + b, pixel_shuffle's order
        self.register_buffer("weight", weight.flatten(0, 2))
        bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(conv.out_channels)
        self.register_buffer("bias", bias.detach().repeat_interleave(4))
        # One more row and column at the bottom/right: the (1, 1) phase's window reaches them,
        # with zero weights.
        left, right, top, bottom = pad.padding
        self.pad = nn.ReflectionPad2d((left, right + 1, top, bottom + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        phases = F.conv2d(self.pad(x), self.weight, self.bias, stride=2)  # (N, 4O, H/2, W/2)
        return F.pixel_shuffle(phases, 2)  # (N, O, H, W)


def onnx_ready(net: TransformerNet) -> TransformerNet:
    """A copy of `net` whose output conv is a PhaseConv: same results, faster onnxruntime."""
    ready = copy.deepcopy(net).eval()
    pad, conv = ready.decoder[-1]
    ready.decoder[-1] = PhaseConv(pad, conv)
    return ready


def onnx_bytes(net: TransformerNet, meta: dict[str, Any] | None = None) -> bytes:
    """Serialized ONNX model of `net` (fp32, opset 17) with dynamic batch/height/width axes.

    The model's metadata holds the net's architecture and `meta` as JSON strings (keys
    'fastnst.arch', 'fastnst.meta'), readable with onnxruntime's get_modelmeta().
    """
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    dynamic_axes = {INPUT_NAME: axes, OUTPUT_NAME: axes}
    input_names = [INPUT_NAME]
    if net.strength_conditioned:
        input_names.append(STRENGTH_NAME)
        dynamic_axes[STRENGTH_NAME] = {0: "strengths"}  # 1 or the batch size
    # The tracer warns that Python arithmetic on sizes may be frozen; the size arithmetic of
    # TransformerNet.forward stays dynamic (tests compare odd sizes with the torch net).
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(onnx_ready(net), _sample(net), buffer, dynamo=False,
                          opset_version=ONNX_OPSET, input_names=input_names,
                          output_names=[OUTPUT_NAME], dynamic_axes=dynamic_axes)
    return _with_metadata(buffer.getvalue(), {"fastnst.arch": json.dumps(net.arch),
                                              "fastnst.meta": json.dumps(meta or {}, default=str)})


def _with_metadata(model: bytes, metadata: dict[str, str]) -> bytes:
    import onnx

    proto = onnx.load_from_string(model)
    for key, value in metadata.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    return proto.SerializeToString()


def save_torchscript(net: TransformerNet, path: Path, meta: dict[str, Any] | None = None) -> None:
    """Trace `net` to TorchScript (fp32, any input size >= 8 px) and save it to `path`;
    a conditioned net's module takes (images, strength).

    The file holds 'fastnst.json' ({"arch": ..., "meta": ...}), read back with
    torch.jit.load(path, _extra_files={"fastnst.json": ""}).
    """
    extra = {"fastnst.json": json.dumps({"arch": net.arch, "meta": meta or {}}, default=str)}
    # Tracer warnings as in onnx_bytes; torch.jit is deprecated in favour of torch.export,
    # which has no file format that runs without Python code yet.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(net.eval(), _sample(net), check_trace=False)
        torch.jit.save(traced, str(path), _extra_files=extra)


def default_output(model: Path, format: str) -> Path:
    """Where `fastnst-export` writes by default: beside the checkpoint, suffix by format."""
    return model.with_suffix(FORMATS[format])


def export_model(model: str | Path, format: str, output: str | Path | None = None) -> Path:
    """Export the checkpoint `model` (slim or Lightning) to `format`; returns the written path.

    output: a file path, an existing folder (file named after the checkpoint), or None
    (beside the checkpoint). The checkpoint itself is never overwritten.
    """
    if format not in FORMATS:
        raise ParameterError("format", f"must be one of {', '.join(FORMATS)}, not {format!r}")
    spec = resolve_spec(model)
    path, selection = spec
    # One style of a multi-style model is exported as a plain net named after it.
    named = path.with_name(f"{path.stem}_{selection}{path.suffix}") if selection else path
    target = Path(output) if output is not None else default_output(named, format)
    if target.is_dir():
        target = target / default_output(named, format).name
    check_writable_dir(parent_dir(target))
    if target.resolve() == path.resolve():
        raise FastNSTError(f"-o {target} would overwrite the checkpoint; choose another name")
    net, meta = load_model(spec)
    require_one_style(net, model)
    with atomic_output(target) as tmp:
        if format == "onnx":
            tmp.write_bytes(onnx_bytes(net, meta))
        else:
            save_torchscript(net, tmp, meta)
    return target
