"""Stylizer fast path (precision, layout, batches, compile) and its CLI, on the CPU.

Tolerances, for float RGB in [0, 1], from randomly initialised nets (seed 0) unless noted:
- bf16 autocast vs fp32 on a bundled photo at 96 x 72 px: max abs diff < 0.03, mean < 0.005
  (measured: random net 0.013 / 0.002; the shipped starry_night 0.008 / 0.001, a quarter
  of an 8-bit level on average);
- channels_last vs contiguous: max abs diff < 1e-5 (float reassociation only).
Tiled inference is tested in test_tiling.py.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import backend_flags
from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.core.images import resize_long_side, to_tensor
from fastnst.core.memory import keep_freed_memory
from fastnst.inference.backends import BackendMismatch, load_stylizer
from fastnst.inference.smoothing import smooth
from fastnst.inference.still import stylize_image
from fastnst.inference.stylizer import Stylizer, frame_batches
from fastnst.models.checkpoint import load_model, save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT, ROOT

pytestmark = pytest.mark.usefixtures("one_thread")


def make_net(width: float = 1.0) -> TransformerNet:
    torch.manual_seed(0)
    return TransformerNet(width=width).eval()


def photo(height: int, width: int) -> torch.Tensor:
    """The bundled Chicago photo resized to (1, 3, height, width)."""
    return to_tensor(Image.open(CONTENT).convert("RGB").resize((width, height))).unsqueeze(0)


@pytest.mark.parametrize("model", ["random", "starry_night"])
def test_bf16_autocast_is_close_to_fp32(model):
    net = make_net() if model == "random" else load_model(model)[0]  # the shipped style
    x = photo(72, 96)
    fp32 = Stylizer(net, device="cpu").stylize_tensor(x)
    bf16 = Stylizer(net, device="cpu", precision="bf16").stylize_tensor(x)
    assert bf16.dtype == torch.float32 and bf16.shape == x.shape
    diff = (bf16 - fp32).abs()
    assert diff.max() < 0.03 and diff.mean() < 0.005, (diff.max(), diff.mean())


def test_channels_last_matches_contiguous():
    net, x = make_net(0.5), photo(67, 93)
    contiguous = Stylizer(net, device="cpu", channels_last=False).stylize_tensor(x)
    nhwc = Stylizer(net, device="cpu", channels_last=True)
    kernels = [p for p in nhwc.net.parameters() if p.dim() == 4]
    assert kernels and all(k.is_contiguous(memory_format=torch.channels_last) for k in kernels)
    out = nhwc.stylize_tensor(x)
    assert out.is_contiguous() and torch.allclose(out, contiguous, atol=1e-5, rtol=0)


def test_frame_batches_group_consecutive_same_sized_frames_lazily():
    frames = [torch.full((3, 4, 5), float(i)) for i in range(5)] + [torch.zeros(3, 6, 5)] + [
        torch.full((3, 4, 5), 9.0)]
    pulled: list[int] = []

    def stream():
        for index, frame in enumerate(frames):
            pulled.append(index)
            yield frame

    batches = frame_batches(stream(), 2)
    first = next(batches)
    assert first.shape == (2, 3, 4, 5) and pulled == [0, 1]  # yielded before frame 2 is read
    rest = list(batches)
    assert [tuple(b.shape[:3]) for b in rest] == [(2, 3, 4), (1, 3, 4), (1, 3, 6), (1, 3, 4)]
    assert torch.equal(torch.cat([first, *[b for b in rest if b.shape[-2] == 4]])[:, 0, 0, 0],
                       torch.tensor([0.0, 1, 2, 3, 4, 9]))
    with pytest.raises(FastNSTError, match="batch_size must be at least 1"):
        next(frame_batches(iter(frames), 0))


def test_batches_equal_single_frames_and_split_on_size_changes():
    stylizer = Stylizer(make_net(0.25), device="cpu")
    frames = [torch.rand(3, 24, 32) for _ in range(5)] + [torch.rand(3, 16, 16)]
    calls = []
    original = stylizer.stylize_tensor

    def counting(images: torch.Tensor) -> torch.Tensor:
        calls.append(images.shape[0])
        return original(images)

    stylizer.stylize_tensor = counting  # type: ignore[method-assign]
    outputs = list(stylizer.stylize_batches(iter(frames), batch_size=2))
    assert calls == [2, 2, 1, 1]  # 5 same-size frames in 2+2+1, then the new size alone
    for frame, out in zip(frames, outputs, strict=True):
        assert torch.allclose(out, original(frame[None])[0], atol=1e-5, rtol=0)
    with pytest.raises(FastNSTError, match="batch_size must be at least 1"):
        list(stylizer.stylize_batches(frames, batch_size=0))


def test_compile_failure_falls_back_to_eager(monkeypatch):
    def broken_compile(module, **kwargs):
        def run(x):
            raise RuntimeError("no C++ compiler found")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    net, x = make_net(0.25), torch.rand(1, 3, 20, 24)
    stylizer = Stylizer(net, device="cpu", compile=True)
    with pytest.warns(RuntimeWarning, match="running eagerly"):
        out = stylizer.stylize_tensor(x)
    assert stylizer.compiled is None
    assert torch.equal(out, Stylizer(net, device="cpu").stylize_tensor(x))


def test_compile_is_static_per_size_and_a_failing_new_size_runs_eagerly(monkeypatch):
    """Each size gets its own static graph (dynamic=False); a compiler error on a new size
    (inductor on sizes not a multiple of 4, torch 2.14) runs that size eagerly only; an
    error on a size that ran compiled before is raised."""
    asked, calls = [], []

    def fussy_compile(module, **kwargs):
        asked.append(kwargs)

        def run(x):
            calls.append(tuple(x.shape))
            if x.shape[-1] % 4:
                raise RuntimeError("BackendCompilerFailed: no attribute 'python_mod'")
            if x.shape[0] > 1:
                raise RuntimeError("CUDA out of memory")  # a real error, not the compiler's
            return module(x)
        return run

    monkeypatch.setattr(torch, "compile", fussy_compile)
    net = make_net(0.25)
    eager = Stylizer(net, device="cpu")
    stylizer = Stylizer(net, device="cpu", compile=True)
    assert asked == [{"dynamic": False}]
    even, odd = torch.rand(1, 3, 20, 24), torch.rand(1, 3, 21, 25)
    assert torch.equal(stylizer.stylize_tensor(even), eager.stylize_tensor(even))
    with pytest.warns(RuntimeWarning, match="running eagerly.*python_mod"):
        assert torch.equal(stylizer.stylize_tensor(odd), eager.stylize_tensor(odd))
    stylizer.stylize_tensor(odd)  # known to fail: not tried again
    stylizer.stylize_tensor(even)  # still compiled
    assert calls == [(1, 3, 20, 24), (1, 3, 21, 25), (1, 3, 20, 24)]
    assert stylizer.compiled is not None and stylizer.eager_shapes == {(1, 3, 21, 25)}
    stylizer.compiled_shapes.add((2, 3, 20, 24))  # as if this batch had run compiled before
    with pytest.raises(RuntimeError, match="out of memory"):
        stylizer.stylize_tensor(torch.rand(2, 3, 20, 24))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["16", "bf16"])
def test_gpu_fast_path_matches_cpu_fp32(precision):
    import warnings

    net, x = make_net(), photo(96, 128)
    reference = Stylizer(net, device="cpu").stylize_tensor(x)
    fast = Stylizer(net, device="cuda", precision=precision, compile=True)
    assert fast.channels_last
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fast.stylize_tensor(x)
    # A silent fall-back to eager would pass the comparison below without testing compile.
    eager = [str(w.message) for w in caught if "running eagerly" in str(w.message)]
    assert not eager and tuple(x.shape) in fast.compiled_shapes, eager
    diff = (out - reference).abs()
    assert diff.max() < 0.03 and diff.mean() < 0.005, (diff.max(), diff.mean())


def test_load_stylizer_refuses_combinations(tmp_path):
    model = save_model(make_net(0.25), tmp_path / "model.ckpt")
    assert isinstance(load_stylizer(model, tile=64), Stylizer)
    with pytest.raises(BackendMismatch, match="tile=64, precision='bf16': not available on "
                                              "the onnx backend") as refused:
        load_stylizer(model, "onnx", precision="bf16", tile=64)
    assert refused.value.settings == (("tile", 64), ("precision", "bf16"))
    # fastnst-stylize names its flags instead
    assert backend_flags(refused.value, "m") == ("--tile, --precision bf16: not available with "
                                                 "--backend onnx (fp32 on the CPU); use "
                                                 "--backend torch")
    with pytest.raises(BackendMismatch, match="an ONNX model runs on the onnx backend"):
        load_stylizer(tmp_path / "model.onnx", "torch")
    with pytest.raises(FastNSTError, match="tile must be at least 16 px, not 8"):
        Stylizer(make_net(0.25), device="cpu", tile=8)


def test_cli_tiles_and_rejects_bad_flags(tmp_path, capsys):
    model = save_model(make_net(0.5), tmp_path / "model.ckpt")
    source = tmp_path / "in.png"
    Image.open(CONTENT).convert("RGB").resize((90, 70)).save(source)
    out = tmp_path / "out.png"
    assert stylize_main([str(source), "--model", str(model), "-o", str(out), "--tile", "32",
                         "--device", "cpu"]) == 0
    assert Image.open(out).size == (90, 70)
    for flags in (["--tile", "8"], ["--batch-size", "0"], ["--backend", "onnx", "--tile", "32"],
                  ["--stats-max-pixels", "10"]):
        bad = tmp_path / "bad.png"
        assert stylize_main([str(source), "--model", str(model), "-o", str(bad), *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnst-stylize: error:") and "\n" not in err
        assert not bad.exists()
    # The library's words ("tile must be ...", as API users read them) name the flag here.
    assert stylize_main([str(source), "--model", str(model), "-o", str(out), "--tile", "8"]) == 2
    assert capsys.readouterr().err.strip() == ("fastnst-stylize: error: --tile must be at least "
                                               "16 px, not 8 (or 0 for no tiling)")


def test_stylize_image_downscales_and_smooths_the_stylized_tensor():
    net = make_net(0.25)
    stylizer = Stylizer(net, device="cpu")
    image = Image.open(CONTENT).convert("RGB").resize((90, 60))
    plain = stylize_image(stylizer, image, max_size=45)
    assert plain.image.size == (45, 30) and plain.smooth_method is None
    assert plain.image.tobytes() == stylizer(resize_long_side(image, 45)).tobytes()
    smoothed = stylize_image(stylizer, image, max_size=45, smooth_method="auto")
    assert smoothed.smooth_method == "matting" and smoothed.image.size == (45, 30)
    small = to_tensor(resize_long_side(image, 45)).unsqueeze(0)
    expected = smooth(stylizer.stylize_tensor(small), small, "matting")
    got = to_tensor(smoothed.image).unsqueeze(0)
    assert (got - expected).abs().max() <= 1 / 255 + 1e-6  # one 8-bit rounding
    assert (got - to_tensor(plain.image).unsqueeze(0)).abs().mean() > 0.005  # smoothing shows


def test_keep_freed_memory_applies_on_glibc():
    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_stylizing_and_the_site_do_not_import_lightning(tmp_path):
    """Stylizing (a tiled fastnst-stylize run) and the web site (its app built) need neither
    Lightning nor its old name: both start faster and stay small without it."""
    model = save_model(make_net(0.25), tmp_path / "model.ckpt")
    code = ("import sys; from fastnst.cli.stylize import main as stylize_main; "
            f"code = stylize_main([{str(CONTENT)!r}, '--model', {str(model)!r}, '-o', "
            f"{str(tmp_path / 'out.jpg')!r}, '--max-size', '64', '--tile', '32']); "
            "assert code == 0\n"
            "from fastnst.web.app import create_app; from fastnst.web.web_config import WebConfig\n"
            f"create_app(WebConfig(data_dir={str(tmp_path / 'site')!r}), start_workers=False)\n"
            "imported = {'lightning', 'pytorch_lightning'} & set(sys.modules)\n"
            "assert not imported, f'imported: {imported}'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
