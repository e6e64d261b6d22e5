"""ONNX and TorchScript export, and the onnxruntime backend.

Tolerance: onnxruntime output vs the torch net, max abs diff < 1e-4 on float RGB in [0, 1]
(measured ~2e-6: different conv kernels, same fp32 math; up to 5e-5 below 8 px a side, where
instance norm over 2 x 2 feature maps magnifies the rounding; 0.2-0.4 with the 0.1 edge padding).
"""

from __future__ import annotations

import json

import pytest
import torch
from PIL import Image

from fastnst.cli.export import main as export_main
from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.inference.backends import load_stylizer
from fastnst.inference.export import PhaseConv, export_model, onnx_bytes
from fastnst.inference.onnx_backend import OnnxStylizer
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT

pytest.importorskip("onnxruntime")
pytestmark = pytest.mark.usefixtures("one_thread")

# Odd, multiple-of-4, batch > 1 and tiny (< 8 px: OnnxStylizer widens those) sizes.
SIZES = [(1, 37, 50), (2, 64, 64), (1, 9, 13), (1, 3, 5)]


@pytest.fixture(scope="module")
def half_width_model(tmp_path_factory) -> tuple[TransformerNet, str]:
    """A width-0.5 checkpoint (16/32/64 channels), as trained with --width 0.5."""
    torch.manual_seed(0)
    net = TransformerNet(width=0.5).eval()
    path = tmp_path_factory.mktemp("model") / "half.ckpt"
    save_model(net, path, meta={"style": "random"})
    return net, str(path)


def test_phase_conv_equals_the_output_conv():
    torch.manual_seed(0)
    layer = TransformerNet(width=0.5).decoder[-1]  # reflection pad 4 + 9x9 conv, 16 -> 3
    phase = PhaseConv(*layer)
    assert phase.weight.shape == (12, 16, 10, 10)
    x = torch.rand(2, 16, 12, 20)
    with torch.no_grad():
        assert torch.allclose(phase(x), layer(x), atol=1e-5, rtol=0)


@pytest.mark.parametrize("shape", SIZES)
def test_onnx_matches_torch_at_any_size(half_width_model, shape):
    net, path = half_width_model
    stylizer = load_stylizer(path, "onnx")  # a checkpoint, exported in memory
    assert isinstance(stylizer, OnnxStylizer) and stylizer.meta["style"] == "random"
    x = torch.rand(shape[0], 3, *shape[1:])
    with torch.no_grad():
        expected = net(x)
    out = stylizer.stylize_tensor(x)
    assert out.shape == x.shape and out.dtype == torch.float32
    assert (out - expected).abs().max() < 1e-4


# Below 8 px a side the torch net pads by reflection where the pad is smaller than the side and
# by replication otherwise (fastnst.models.johnson.pad_input); the ONNX backend must pad alike.
TINY_SIZES = [(5, 7), (6, 6), (1, 1), (3, 9), (7, 8), (8, 5), (2, 30)]


def test_onnx_matches_torch_below_8_px(half_width_model):
    net, path = half_width_model
    stylizer = load_stylizer(path, "onnx")
    generator = torch.Generator().manual_seed(0)
    for height, width in TINY_SIZES:
        x = torch.rand(2, 3, height, width, generator=generator)
        with torch.no_grad():
            expected = net(x)
        out = stylizer.stylize_tensor(x)
        assert out.shape == x.shape
        assert (out - expected).abs().max() < 1e-4, (height, width)


def test_onnx_file_round_trip_keeps_metadata(half_width_model, tmp_path):
    net, path = half_width_model
    target = export_model(path, "onnx", tmp_path)
    assert target == tmp_path / "half.onnx"
    assert [p.name for p in tmp_path.iterdir()] == ["half.onnx"]  # no temporary files left
    stylizer = load_stylizer(target)  # 'auto' picks onnx for .onnx files
    assert isinstance(stylizer, OnnxStylizer) and stylizer.meta["style"] == "random"
    assert stylizer.session.get_inputs()[0].shape == ["batch", 3, "height", "width"]
    x = torch.rand(1, 3, 30, 41)
    with torch.no_grad():
        assert (stylizer.stylize_tensor(x) - net(x)).abs().max() < 1e-4
    assert len(onnx_bytes(net)) > 0


def test_torchscript_round_trip(half_width_model, tmp_path):
    net, path = half_width_model
    target = export_model(path, "torchscript", tmp_path / "half.pt")
    extra = {"fastnst.json": ""}
    loaded = torch.jit.load(str(target), _extra_files=extra)
    assert json.loads(extra["fastnst.json"])["arch"]["width"] == 0.5
    for batch, height, width in SIZES[:3]:
        x = torch.rand(batch, 3, height, width)
        with torch.no_grad():
            assert torch.allclose(loaded(x), net(x), atol=1e-5, rtol=0)


def test_export_errors(half_width_model, tmp_path):
    _, path = half_width_model
    with pytest.raises(FastNSTError, match="overwrite the checkpoint"):
        export_model(path, "torchscript", path)
    with pytest.raises(FastNSTError,
                       match="^format must be one of onnx, torchscript, not .tflite.$"):
        export_model(path, "tflite")
    with pytest.raises(FastNSTError, match="does not exist"):
        export_model(path, "onnx", tmp_path / "missing" / "x.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(FastNSTError, match="not a usable ONNX model"):
        OnnxStylizer(junk)


def test_cli_export_then_stylize_with_onnx(half_width_model, tmp_path, capsys):
    net, path = half_width_model
    model = tmp_path / "style.onnx"
    assert export_main(["--model", path, "--format", "onnx", "-o", str(model)]) == 0
    assert model.is_file() and str(model) in capsys.readouterr().out
    source = tmp_path / "photo.png"
    Image.open(CONTENT).convert("RGB").resize((45, 33)).save(source)
    outputs = {}
    for backend, model_arg in (("onnx", model), ("onnx", path), ("torch", path)):
        out = tmp_path / f"{backend}-{len(outputs)}.png"
        assert stylize_main([str(source), "--model", str(model_arg), "--backend", backend,
                             "-o", str(out), "--device", "cpu"]) == 0
        outputs[out] = torch.tensor(list(Image.open(out).getdata()), dtype=torch.int32)
    first, *rest = outputs.values()
    assert all((other - first).abs().max() <= 1 for other in rest)  # 8-bit rounding only

    bad = tmp_path / "bad.png"
    junk = tmp_path / "junk.onnx"
    junk.write_text("no")
    for argv in ([str(source), "--model", str(model), "--backend", "torch"],
                 [str(source), "--model", str(junk)],
                 [str(source), "--model", str(model), "--precision", "bf16"]):
        assert stylize_main([*argv, "-o", str(bad)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnst-stylize: error:") and "\n" not in err
        assert not bad.exists()
    assert export_main(["--model", str(tmp_path / "missing.ckpt")]) == 2
    assert "no such checkpoint" in capsys.readouterr().err
