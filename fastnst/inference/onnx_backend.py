"""The ONNX backend: an exported transform net run by onnxruntime on the CPU.

A graph exported from a strength-conditioned net has a second input, `strength` ((S,)
float32 in [0, 1], S = 1 or N); other graphs have one, and their strength is a blend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fastnst.core.errors import FastNSTError, first_line
from fastnst.inference.export import STRENGTH_NAME
from fastnst.inference.params import check_strength
from fastnst.inference.stylizer import BaseStylizer
from fastnst.models.checkpoint import ModelSpec, load_model, resolve_spec
from fastnst.models.johnson import pad_input


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise FastNSTError("the onnx backend needs onnxruntime: pip install 'fastnst[onnx]'"
                           ) from None
    return onnxruntime


class OnnxStylizer(BaseStylizer):
    """Runs an exported ONNX transform net with onnxruntime on the CPU.

    model: path of a .onnx file or its bytes. The session uses every graph optimization and
    one intra-op thread per core PyTorch would use (torch.get_num_threads()).
    strength, preserve_colors: the controls (see fastnst.inference.stylizer).
    """

    def __init__(self, model: str | Path | bytes, meta: dict[str, Any] | None = None,
                 threads: int | None = None, *, strength: float = 1.0,
                 preserve_colors: bool = False) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        name = "the exported model" if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model), options,
                providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own pybind exception types
            raise FastNSTError(f"{name}: not a usable ONNX model ({first_line(err)})") from None
        inputs = self.session.get_inputs()
        image_ok = bool(inputs) and len(inputs[0].shape) == 4 and inputs[0].shape[1] == 3
        strength_ok = len(inputs) == 1 or (len(inputs) == 2 and inputs[1].name == STRENGTH_NAME
                                           and len(inputs[1].shape) == 1)
        if not (image_ok and strength_ok):
            raise FastNSTError(f"{name}: not a fastnst model (expected an (N, 3, H, W) input "
                               f"and optionally a ({STRENGTH_NAME},) one)")
        self.input_name = inputs[0].name
        self._conditioned = len(inputs) == 2
        self.strength = check_strength(strength)
        self.preserve_colors = preserve_colors
        if meta is None:  # fastnst-export stores the checkpoint's metadata in the model
            stored = self.session.get_modelmeta().custom_metadata_map.get("fastnst.meta", "{}")
            meta = json.loads(stored)
        self.meta = meta

    @property
    def strength_conditioned(self) -> bool:
        return self._conditioned

    @classmethod
    def from_model(cls, model: str | Path | ModelSpec, **controls: Any) -> OnnxStylizer:
        """A .onnx file as is, or a checkpoint (a model spec, see resolve_spec) exported to
        ONNX in memory; `controls`: strength, preserve_colors."""
        spec = resolve_spec(model)
        if spec.path.suffix.lower() == ".onnx":
            if not spec.path.is_file():
                raise FastNSTError(f"no such model: {spec.path}")
            return cls(spec.path, **controls)
        from fastnst.inference.export import onnx_bytes

        net, meta = load_model(spec)
        return cls(onnx_bytes(net), meta, **controls)

    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU."""
        height, width = images.shape[-2:]
        batch = images.detach().float().cpu()
        if height < 8 or width < 8:
            # The traced graph always pads by reflection, which needs >= 8 px a side: pad tiny
            # inputs first exactly as the torch net does, so both backends agree.
            batch = pad_input(batch)
        feed = {self.input_name: batch.contiguous().numpy()}
        if self._conditioned:
            feed[STRENGTH_NAME] = np.full((1,), self.strength, dtype=np.float32)
        out = torch.from_numpy(self.session.run(None, feed)[0][..., :height, :width].copy())
        if not self.controls_active:
            return out
        return self.apply_controls(out, images.detach().float().cpu())
