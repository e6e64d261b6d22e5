"""Stylizer fast path (precision, layout, batches, compile) and tiled inference, on the CPU.

Tolerances, for float RGB in [0, 1], from randomly initialised nets (seed 0) unless noted:
- bf16 autocast vs fp32 on a bundled photo at 96 x 72 px: max abs diff < 0.03, mean < 0.005
  (measured: random net 0.013 / 0.002; the shipped starry_night 0.008 / 0.001, a quarter
  of an 8-bit level on average);
- channels_last vs contiguous: max abs diff < 1e-5 (float reassociation only);
- tiled vs untiled with whole-image statistics: max abs diff < 1e-4 (measured ~2e-6).
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.core.images import to_tensor
from fastnst.core.memory import keep_freed_memory
from fastnst.inference.backends import load_stylizer
from fastnst.inference.stylizer import Stylizer
from fastnst.inference.tiling import (
    normalizing_with,
    receptive_radius,
    recording_norm_stats,
    run_tiled,
    stats_size,
    tile_grid,
)
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
    net = make_net() if model == "random" else load_model(ROOT / "fastnst" / "checkpoints" / f"{model}.ckpt")[0]
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
    assert nhwc.net.encoder[0][1].weight.is_contiguous(memory_format=torch.channels_last)
    out = nhwc.stylize_tensor(x)
    assert out.is_contiguous() and torch.allclose(out, contiguous, atol=1e-5, rtol=0)


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
    with pytest.raises(FastNSTError, match="batch-size"):
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


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("precision", ["16", "bf16"])
def test_gpu_fast_path_matches_cpu_fp32(precision):
    net, x = make_net(), photo(96, 128)
    reference = Stylizer(net, device="cpu").stylize_tensor(x)
    fast = Stylizer(net, device="cuda", precision=precision, compile=True)
    assert fast.channels_last
    diff = (fast.stylize_tensor(x) - reference).abs()
    assert diff.max() < 0.03 and diff.mean() < 0.005, (diff.max(), diff.mean())


def test_receptive_radius_bounds_the_reach_of_one_pixel():
    net = make_net(0.25)
    assert receptive_radius(net) == receptive_radius(make_net()) == 57
    x = torch.rand(1, 3, 160, 160)
    with torch.no_grad():
        with recording_norm_stats(net) as stats:
            net(x)
        with normalizing_with(net, stats):  # fixed statistics: the net becomes local
            before = net(x)
            x[..., 80, 80] += 0.5
            changed = (net(x) - before).abs().amax(dim=1)[0] > 0  # (H, W)
    rows, cols = torch.nonzero(changed, as_tuple=True)
    reach = max((rows - 80).abs().max().item(), (cols - 80).abs().max().item())
    assert 40 < reach <= 57


def test_recorded_statistics_reproduce_instance_norm():
    net, x = make_net(0.25), torch.rand(2, 3, 40, 52)
    with torch.no_grad():
        expected = net(x)
        with recording_norm_stats(net) as stats:
            net(x)
        assert len(stats) == 15 and all(m.shape == (2, m.shape[1]) for m, _ in stats.values())
        with normalizing_with(net, stats):
            assert torch.allclose(net(x), expected, atol=1e-5, rtol=0)


def test_tile_grid_covers_the_image_once_with_aligned_margins():
    tiles = tile_grid(200, 300, 64, 60)
    covered = torch.zeros(200, 300, dtype=torch.int32)
    for tile in tiles:
        top, bottom, left, right = tile.core
        covered[top:bottom, left:right] += 1
        assert all(edge % 4 == 0 or edge in (200, 300) for edge in tile.outer)
    assert torch.all(covered == 1)
    assert stats_size(8000, 12000, 4_000_000) == (1632, 2449)
    assert stats_size(200, 300, 4_000_000) == (200, 300)


@pytest.mark.parametrize("tile", [64, 96])
def test_tiled_output_matches_untiled(tile):
    net, x = make_net(), photo(200, 300)
    untiled = Stylizer(net, device="cpu").stylize_tensor(x)
    tiled = Stylizer(net, device="cpu", tile=tile).stylize_tensor(x)
    assert (tiled - untiled).abs().max() < 1e-4


def test_tiled_run_releases_memory_after_the_statistics_pass_and_each_tile():
    # What keeps a huge image's peak at one tile's memory (see _release_free_memory).
    net, x = make_net(0.25), photo(100, 140)
    events: list[str] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        events.append("forward")
        return net(batch)

    out = torch.zeros_like(x)

    def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
        out[..., box[0]:box[1], box[2]:box[3]] = stylized

    with torch.no_grad():
        run_tiled(net, forward, x, (100, 140), 48,
                  lambda box: x[..., box[0]:box[1], box[2]:box[3]], write,
                  lambda: events.append("release"))
    assert events == ["forward", "release"] * (1 + len(tile_grid(100, 140, 48, 60)))
    assert (out - Stylizer(net, device="cpu").stylize_tensor(x)).abs().max() < 1e-4


def test_tiled_pil_path_and_downscaled_statistics_show_no_seams():
    net, x = make_net(0.5), photo(150, 210)
    image = Image.open(CONTENT).convert("RGB").resize((210, 150))
    whole = Stylizer(net, device="cpu")(image)
    tiled = Stylizer(net, device="cpu", tile=64)(image)
    diff = (to_tensor(tiled) - to_tensor(whole)).abs()
    assert diff.max() <= 1 / 255 + 1e-6  # equal up to rounding to 8 bits
    # With statistics from a downscaled copy, tiles still agree with each other: the tiled
    # result is exactly the whole image run with those same statistics.
    small = Stylizer(net, device="cpu", tile=64, stats_max_pixels=64 * 90)
    tiled_small = small.stylize_tensor(x)
    low = torch.nn.functional.interpolate(x, stats_size(150, 210, 64 * 90), mode="bilinear",
                                          antialias=True, align_corners=False)
    with torch.no_grad():
        with recording_norm_stats(net) as stats:
            net(low)
        with normalizing_with(net, stats):
            reference = net(x)
    assert (tiled_small - reference).abs().max() < 1e-4


def test_load_stylizer_refuses_combinations(tmp_path):
    model = save_model(make_net(0.25), tmp_path / "model.ckpt")
    assert isinstance(load_stylizer(model, tile=64), Stylizer)
    with pytest.raises(FastNSTError, match="--tile, --precision bf16"):
        load_stylizer(model, "onnx", precision="bf16", tile=64)
    with pytest.raises(FastNSTError, match="--backend onnx"):
        load_stylizer(tmp_path / "model.onnx", "torch")
    with pytest.raises(FastNSTError, match="--tile must be at least 16"):
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


def test_keep_freed_memory_applies_on_glibc():
    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")


def test_stylizing_does_not_import_lightning(tmp_path):
    model = save_model(make_net(0.25), tmp_path / "model.ckpt")
    code = ("import sys; from fastnst.cli.stylize import main as stylize_main; "
            f"code = stylize_main([{str(CONTENT)!r}, '--model', {str(model)!r}, '-o', "
            f"{str(tmp_path / 'out.jpg')!r}, '--max-size', '64', '--tile', '32']); "
            "assert code == 0; assert 'lightning' not in sys.modules, 'lightning imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
