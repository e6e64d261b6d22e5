"""Exporting a trained transform net for inference elsewhere: ONNX (onnxruntime) or TorchScript.

Both graphs are traced from the PyTorch net at an odd sample size, so the net's
pad-to-a-multiple-of-4 step is recorded with amounts computed from the input's shape: the
exported model takes any batch size, height and width (ONNX axes 0, 2, 3 are dynamic) and
returns the input's size, odd sizes included. Inputs under 8 px a side are the exception
(the traced graph always pads by reflection); OnnxStylizer widens those first.
Inputs and outputs are float32 RGB, (N, 3, H, W), in [0, 1]. Files are written atomically.
"""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path
from typing import Any

import torch

from fastnst.checkpoint import load_model
from fastnst.errors import FastNSTError
from fastnst.image import atomic_output, check_writable_dir
from fastnst.transformer import TransformerNet

FORMATS = {"onnx": ".onnx", "torchscript": ".pt"}
# Opset 17 is read by onnxruntime >= 1.11 and has every op the net needs (Pad reflect,
# InstanceNormalization, Resize nearest).
ONNX_OPSET = 17
# Neither side a multiple of 4, so the tracer records the padding branch of the forward.
_SAMPLE_SIZE = (67, 93)
INPUT_NAME, OUTPUT_NAME = "images", "stylized"


def _sample(net: TransformerNet) -> torch.Tensor:
    return torch.rand(1, 3, *_SAMPLE_SIZE, device=next(net.parameters()).device)


def onnx_bytes(net: TransformerNet, meta: dict[str, Any] | None = None) -> bytes:
    """Serialized ONNX model of `net` (fp32, opset 17) with dynamic batch/height/width axes.

    The model's metadata holds the net's architecture and `meta` as JSON strings (keys
    'fastnst.arch', 'fastnst.meta'), readable with onnxruntime's get_modelmeta().
    """
    net = net.eval()
    buffer = io.BytesIO()
    axes = {0: "batch", 2: "height", 3: "width"}
    # The tracer warns that Python arithmetic on sizes may be frozen; the size arithmetic of
    # TransformerNet.forward stays dynamic (tests compare odd sizes with the torch net).
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (_sample(net),), buffer, dynamo=False, opset_version=ONNX_OPSET,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes})
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
    """Trace `net` to TorchScript (fp32, any input size >= 8 px) and save it to `path`.

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
        raise FastNSTError(f"--format must be one of {', '.join(FORMATS)}, not {format!r}")
    model = Path(model)
    target = Path(output) if output is not None else default_output(model, format)
    if target.is_dir():
        target = target / default_output(model, format).name
    check_writable_dir(target.parent if str(target.parent) else Path("."))
    if target.resolve() == model.resolve():
        raise FastNSTError(f"-o {target} would overwrite the checkpoint; choose another name")
    net, meta = load_model(model)
    with atomic_output(target) as tmp:
        if format == "onnx":
            tmp.write_bytes(onnx_bytes(net, meta))
        else:
            save_torchscript(net, tmp, meta)
    return target
