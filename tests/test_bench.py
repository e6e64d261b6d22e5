"""fastnst-bench: FLOP counts against hand-counted ones and a tiny CPU run of the whole
benchmark."""

from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from fastnst.bench.flops import device_peak, transformer_flops
from fastnst.cli.bench import main as bench_main
from fastnst.models.johnson import TransformerNet
from tests.conftest import ASSETS

REQUIRED = {"task", "device", "height", "width_px", "net_width", "variant", "backend",
            "precision", "ms_per_item", "items_per_s", "peak_mem_mb", "flops_per_item",
            "tflops", "peak_tflops", "peak_share"}


def test_transformer_flops_by_hand():
    # MACs of each conv: H_out * W_out * C_out * C_in * k_h * k_w; a MAC is 2 FLOPs.
    by_hand = (64 * 64 * 32 * 3 * 81  # 9x9 in
               + 32 * 32 * 64 * 32 * 9  # 3x3 stride 2 -> 32x32
               + 16 * 16 * 128 * 64 * 9  # 3x3 stride 2 -> 16x16
               + 10 * 16 * 16 * 128 * 128 * 9  # 5 residual blocks, 2 convs each
               + 32 * 32 * 64 * 128 * 9  # upsample x2 + 3x3
               + 64 * 64 * 32 * 64 * 9  # upsample x2 + 3x3
               + 64 * 64 * 3 * 32 * 81)  # 9x9 out
    assert by_hand == 629_932_032
    assert transformer_flops(1.0, 64, 64) == 2 * by_hand
    # odd sizes are padded to a multiple of 4 first: 61x63 costs what 64x64 does
    assert transformer_flops(1.0, 61, 63) == 2 * by_hand


def test_meta_device_count_equals_a_real_forward():
    net = TransformerNet(width=0.5)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.rand(1, 3, 40, 72))
    convs = counter.get_flop_counts()["Global"][torch.ops.aten.convolution]
    assert transformer_flops(0.5, 40, 72) == convs


def test_cpu_peak_is_measured():
    peak = device_peak(torch.device("cpu"))
    assert peak["fp32_tflops"] > 0 and peak["source"].startswith("measured")


def test_cpu_peak_is_remeasured_and_a_share_above_it_is_unreliable():
    """A peak measured while the machine was busy is too low: the next measurement (after a
    row) replaces it, and a row still above the peak gets no share, not a share over 100%."""
    from fastnst.bench.flops import share_of_peak
    from fastnst.bench.timing import format_row, measurement

    cpu = torch.device("cpu")
    peak = {"fp32_tflops": 1e-9, "source": "measured"}  # as if measured under heavy load

    def row(seconds):  # 1 GFLOP in `seconds`
        return measurement("inference", "CPU", (64, 64), 1.0, "baseline", "eager", "fp32",
                           False, 1, seconds, 1, None, 10**9, peak["fp32_tflops"], 1, 0, {})

    slow = row(10.0)  # 1e-4 TFLOP/s: 100,000x the stale peak
    assert slow.peak_share > 1
    share_of_peak(slow, peak, cpu)
    assert peak["fp32_tflops"] > 1e-3  # re-measured: any CPU multiplies faster than 1 GFLOP/s
    assert slow.peak_tflops == peak["fp32_tflops"]
    assert slow.peak_share == round(1e-4 / peak["fp32_tflops"], 4) < 1
    impossible = row(1e-9)  # 1e6 TFLOP/s: above any measured CPU peak
    share_of_peak(impossible, peak, cpu)
    assert impossible.peak_share is None and impossible.extra["peak_share_unreliable"] > 1
    assert format_row(impossible).split()[-2] == "?"


def test_report_is_written_after_each_row(tmp_path, monkeypatch):
    """A row that fails (here the training rows) keeps the rows measured before it."""
    import fastnst.bench.report

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(fastnst.bench.report, "bench_train", out_of_memory)
    output = tmp_path / "bench.json"
    with pytest.raises(RuntimeError, match="out of memory"):
        bench_main(["--device", "cpu", "--sizes", "32x32", "--widths", "0.25", "--iters", "1",
                    "--warmup", "0", "-o", str(output)])
    report = json.loads(output.read_text())
    assert report["complete"] is False and "out of memory" in report["error"]
    assert [r["task"] for r in report["results"]][:1] == ["inference"]
    assert len(report["results"]) in (1, 2)  # baseline, and onnxruntime where installed


def test_tiny_cpu_bench_writes_both_variants(tmp_path, capsys):
    output = tmp_path / "bench.json"
    code = bench_main(["--device", "cpu", "--sizes", "64x64", "--widths", "1", "--iters", "1",
                       "--warmup", "1", "--train-size", "64", "--train-batch", "4",
                       "--baseline-batch", "2", "--workers", "0",
                       "--photos", str(ASSETS / "photos"), "-o", str(output)])
    assert code == 0
    report = json.loads(output.read_text())
    assert report["torch"] == torch.__version__ and report["device"].startswith("CPU")
    assert "FlopCounterMode" in report["flop_counting"]  # how FLOPs were counted
    assert report["peak_flops"]["fp32_tflops"] > 0 and report["complete"] is True
    rows = report["results"]
    assert {(r["task"], r["variant"]) for r in rows} == {
        ("inference", "baseline"), ("inference", "optimized"),
        ("train", "baseline"), ("train", "optimized")}
    for row in rows:
        assert REQUIRED <= set(row), REQUIRED - set(row)
        assert row["device"] == report["device"] and row["ms_per_item"] > 0
        assert ("speedup" in row) == (row["variant"] == "optimized")
        if row["variant"] == "optimized":
            assert row["speedup"] > 0
    # On the CPU the Stylizer's path is the baseline's (fp32, NCHW): the optimized inference
    # row is the exported model in onnxruntime, not a repeat of the baseline.
    assert {r["backend"] for r in rows
            if r["task"] == "inference" and r["variant"] == "optimized"} == {"onnxruntime"}
    train = {r["variant"]: r for r in rows if r["task"] == "train"}
    assert train["baseline"]["batch"] == 2 and train["optimized"]["batch"] == 4
    assert train["optimized"]["coco_2_epochs_min"] > 0
    assert train["baseline"]["height"] == train["baseline"]["width_px"] == 64
    table = capsys.readouterr().out
    assert "speedup" in table and f"wrote {output}" in table


def test_bad_options_are_one_line_errors(tmp_path, capsys):
    assert bench_main(["--tasks", "video", "-o", str(tmp_path / "b.json")]) == 2
    assert "--tasks" in capsys.readouterr().err
    assert bench_main(["--sizes", "big", "-o", str(tmp_path / "b.json")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--sizes" in err[0]
    assert not (tmp_path / "b.json").exists()


@pytest.mark.parametrize("case", ["readonly", "missing", "suffix"])
def test_output_is_checked_before_measuring(case, tmp_path, readonly_dir, capsys):
    """A bad -o fails at once, before minutes of measurement, with one line and no table."""
    output = {"readonly": readonly_dir / "b.json", "missing": tmp_path / "nope" / "b.json",
              "suffix": tmp_path / "b.txt"}[case]
    assert bench_main(["--tasks", "inference", "--sizes", "64x64", "-o", str(output)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no header, no rows: nothing was measured
    assert len(captured.err.strip().splitlines()) == 1
    assert str(output.parent) in captured.err or output.name in captured.err
    assert not output.exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tiny_cuda_inference_bench(tmp_path):
    output = tmp_path / "bench.json"
    assert bench_main(["--device", "cuda", "--tasks", "inference", "--sizes", "64x64",
                       "--widths", "0.5", "--iters", "1", "--warmup", "1",
                       "-o", str(output)]) == 0
    rows = json.loads(output.read_text())["results"]
    optimized = next(r for r in rows if r["variant"] == "optimized")
    assert optimized["precision"] in ("bf16", "fp16")
    assert optimized["memory_format"] == "channels_last" and optimized["peak_mem_mb"] > 0
