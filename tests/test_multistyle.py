"""Multi-style models, warm starts (--init, --trainable norms) and the small-crop curriculum,
trained in miniature (width 0.25, a few CPU steps at 64 px, configs/debug.yaml)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.cli.train import main as train_main
from fastnst.core.errors import FastNSTError
from fastnst.core.images import to_tensor
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import load_model, resolve_spec
from fastnst.models.johnson import TransformerNet, parse_style_mix, select_style
from fastnst.training import module as training_module
from fastnst.training.module import finish_must_start
from fastnst.training.train import resolve_train_config, train
from tests.conftest import ASSETS, CONTENT, DEBUG_CONFIG

STYLES = ASSETS / "styles"


def train_args(tmp_path: Path, photos: Path, name: str, *styles: Path, steps: int = 3
               ) -> list[str]:
    return ["--config", str(DEBUG_CONFIG), "--style", *map(str, styles), "--data", str(photos),
            "--runs-dir", str(tmp_path / "runs"), "--output", str(tmp_path / f"{name}.ckpt"),
            "--name", name, "--width", "0.25", "--max-steps", str(steps), "--val-images", "1"]


@pytest.fixture(scope="module")
def two_styles(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-style model (candy, mosaic) trained for 3 steps: its file."""
    tmp_path = tmp_path_factory.mktemp("multi")
    photos = tmp_path / "photos"
    photos.mkdir()
    for source in sorted((ASSETS / "photos").glob("*.jpg"))[:4]:
        Image.open(source).resize((96, 80)).save(photos / source.name)
    args = train_args(tmp_path, photos, "duo", STYLES / "candy.jpg", STYLES / "mosaic.jpg")
    assert train_main(args) == 0
    return tmp_path / "duo.ckpt"


@pytest.fixture
def photo() -> torch.Tensor:
    return to_tensor(Image.open(CONTENT).convert("RGB").resize((48, 32)))[None]


def test_each_style_is_its_own_stylization_and_mixes_interpolate_the_norms(two_styles, photo):
    net, meta = load_model(two_styles)
    assert net.styles == ("candy", "mosaic") and set(meta["styles"]) == {"candy", "mosaic"}
    # Each style keeps its own quality report, scored on the held-out photos at the end.
    assert meta["styles"]["candy"]["eval"]["style_error"] > 0
    candy = Stylizer.from_checkpoint(f"{two_styles}:candy").stylize_tensor(photo)
    mosaic = Stylizer.from_checkpoint(f"{two_styles}:mosaic").stylize_tensor(photo)
    assert (candy - mosaic).abs().mean() > 1e-3
    # The selected plain net is exactly the multi-style net run with that style's weights.
    with torch.no_grad():
        direct = net(photo, style=torch.tensor([1.0, 0.0]))
    assert torch.allclose(candy, direct, atol=1e-5)
    # A mix interpolates the norms' scales and shifts (not the pixels).
    mixed = Stylizer.from_checkpoint(f"{two_styles}:candy=1,mosaic=3").stylize_tensor(photo)
    with torch.no_grad():
        expected = net(photo, style=torch.tensor([0.25, 0.75]))
    assert torch.allclose(mixed, expected, atol=1e-5)


def test_a_mix_interpolates_norm_parameters_not_pixels(photo):
    torch.manual_seed(0)
    net = TransformerNet(width=0.25, num_residual=1, styles=("a", "b")).eval()
    with torch.no_grad():
        for parameter in net.parameters():
            if parameter.dim() == 2:  # (2, C) norm rows: two clearly different styles
                parameter.normal_(0, 1)
        a, b = (select_style(net, {name: 1.0})(photo) for name in ("a", "b"))
        mixed = select_style(net, {"a": 0.5, "b": 0.5})
        assert torch.allclose(mixed(photo), net(photo, style=torch.tensor([0.5, 0.5])),
                              atol=1e-5)
        assert (mixed(photo) - (a + b) / 2).abs().mean() > 1e-2
    assert not any(parameter.dim() == 2 for parameter in mixed.parameters())  # a plain net


@pytest.mark.parametrize("device, dtype", [
    ("cpu", torch.float64),
    pytest.param("cuda", torch.float32, marks=pytest.mark.skipif(
        not torch.cuda.is_available(), reason="needs CUDA")),
])
def test_a_style_is_selected_on_the_device_and_dtype_the_net_has(photo, device, dtype):
    # A run's end-of-training score selects each style of the net it trains, which lives on
    # the GPU (the first multi-style run on CUDA failed there).
    torch.manual_seed(0)
    net = TransformerNet(width=0.25, num_residual=1, styles=("a", "b")).eval()
    net = net.to(device=device, dtype=dtype)
    with torch.no_grad():
        plain = select_style(net, {"a": 0.25, "b": 0.75})
        assert next(plain.parameters()).device.type == device
        expected = net(photo.to(device, dtype), style=torch.tensor([0.25, 0.75]).to(device, dtype))
        assert torch.allclose(plain(photo.to(device)).double(), expected.double(), atol=1e-4)


def test_mix_spec_errors_name_the_problem():
    styles = ("candy", "mosaic")
    assert parse_style_mix("candy", styles) == {"candy": 1.0}
    assert parse_style_mix("candy=2,mosaic=2", styles) == {"candy": 0.5, "mosaic": 0.5}
    for text, words in (("wave", "no style 'wave'"), ("candy=-1,mosaic=1", ">= 0"),
                        ("candy=x", "not a number"), ("candy=0,mosaic=0", "sum to 0"),
                        ("candy=nan", ">= 0")):
        with pytest.raises(FastNSTError, match=words):
            parse_style_mix(text, styles)


def test_cli_picks_styles_by_name_and_refuses_bad_selections(two_styles, tmp_path, capsys,
                                                             monkeypatch):
    out = tmp_path / "out.png"
    assert stylize_main(["--model", f"{two_styles}:mosaic", str(CONTENT), "-o", str(out),
                         "--max-size", "48", "--strength", "0.5", "--preserve-colors"]) == 0
    assert Image.open(out).size == (48, 32)
    # A bare style name finds the multi-style model that has it (here via
    # $FASTNST_CHECKPOINTS), as shipped styles are found by name.
    folder = tmp_path / "models"
    folder.mkdir()
    shutil.copy(two_styles, folder / "duo.ckpt")
    monkeypatch.setenv("FASTNST_CHECKPOINTS", str(folder))
    assert resolve_spec("candy") == (folder / "duo.ckpt", "candy")
    assert resolve_spec("duo:mosaic") == (folder / "duo.ckpt", "mosaic")
    capsys.readouterr()
    single = tmp_path / "single.ckpt"
    torch.save({"format": "fastnst.transformer", "format_version": 2,
                "arch": TransformerNet(width=0.25).arch,
                "state_dict": TransformerNet(width=0.25).state_dict(), "meta": {}}, single)
    for model, words in ((f"{two_styles}:unknown_style", "no style 'unknown_style'"),
                         (f"{two_styles}:candy=-0.5,mosaic=1", "weights must be >= 0"),
                         ("duo:wave=1", "no style 'wave'"),
                         (str(two_styles), "is a multi-style model: choose a style"),
                         (f"{single}:candy", "has one style")):
        target = tmp_path / "never.png"
        assert stylize_main(["--model", model, str(CONTENT), "-o", str(target)]) == 2, model
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (model, err)
        assert not target.exists()


def test_onnx_export_of_one_style_equals_torch(two_styles, tmp_path, photo):
    pytest.importorskip("onnxruntime")
    from fastnst.inference.export import export_model
    from fastnst.inference.onnx_backend import OnnxStylizer

    path = export_model(f"{two_styles}:candy", "onnx", tmp_path)
    assert path.name == "duo_candy.onnx"
    torch_out = Stylizer.from_checkpoint(f"{two_styles}:candy").stylize_tensor(photo)
    assert torch.allclose(OnnxStylizer(path).stylize_tensor(photo), torch_out, atol=1e-4)
    with pytest.raises(FastNSTError, match="multi-style model"):
        export_model(two_styles, "onnx", tmp_path / "all.onnx")


def test_adding_a_style_by_its_norms_keeps_the_other_styles(two_styles, tmp_path, photos,
                                                            photo):
    args = [*train_args(tmp_path, photos, "trio", STYLES / "starry_night.jpg", steps=2),
            "--init", str(two_styles), "--trainable", "norms"]
    assert train_main(args) == 0
    trio, meta = load_model(tmp_path / "trio.ckpt")
    assert trio.styles == ("candy", "mosaic", "starry_night")
    assert meta["init"] == str(two_styles) and set(meta["styles"]) == set(trio.styles)
    for style in ("candy", "mosaic"):  # convolutions and their rows untouched
        before = Stylizer.from_checkpoint(f"{two_styles}:{style}").stylize_tensor(photo)
        after = Stylizer.from_checkpoint(f"{tmp_path / 'trio.ckpt'}:{style}").stylize_tensor(
            photo)
        assert torch.equal(before, after), style
    # The new style started from the mean of the others' norms and was trained from there.
    duo, _ = load_model(two_styles)
    mean = select_style(duo, {"candy": 0.5, "mosaic": 0.5})
    new = select_style(trio, {"starry_night": 1.0})
    with torch.no_grad():
        assert (new(photo) - mean(photo)).abs().max() > 1e-5


def test_warm_start_of_a_plain_net_from_one_style(two_styles, tmp_path, photos):
    config = resolve_train_config([str(DEBUG_CONFIG)], {
        "style": (str(STYLES / "starry_night.jpg"),), "data": str(photos),
        "runs_dir": str(tmp_path / "runs"), "output": str(tmp_path / "warm.ckpt"),
        "name": "warm", "width": 0.25, "max_steps": 1, "init": f"{two_styles}:mosaic",
        "val_images": 1})
    from fastnst.training.warmstart import build_transformer

    net, rows, _ = build_transformer(config)
    assert not net.styles and rows == []
    mosaic, _ = load_model(f"{two_styles}:mosaic")
    for (key, value), (other_key, other) in zip(net.state_dict().items(),
                                                mosaic.state_dict().items(), strict=True):
        assert key == other_key and torch.equal(value, other), key
    # From the whole multi-style model, a new style starts from the mean of its styles.
    config = dataclasses.replace(config, init=str(two_styles))
    net, rows, meta = build_transformer(config)
    mean = select_style(load_model(two_styles)[0], {"candy": 0.5, "mosaic": 0.5})
    assert not net.styles and rows == [] and set(meta["styles"]) == {"candy", "mosaic"}
    for (key, value), other in zip(net.state_dict().items(), mean.state_dict().values(),
                                   strict=True):
        assert torch.allclose(value, other, atol=1e-6), key


def test_bad_init_and_style_inputs_fail_before_training(two_styles, tmp_path, photos, capsys):
    text_style = tmp_path / "notes.jpg"
    text_style.write_text("not an image")
    corrupt = tmp_path / "corrupt.ckpt"
    corrupt.write_bytes(b"PK\x03\x04 broken")
    base = train_args(tmp_path, photos, "bad", STYLES / "starry_night.jpg", steps=1)
    cases = [
        (["--init", str(tmp_path / "missing.ckpt")], "no such checkpoint"),
        (["--init", str(corrupt)], "not a fastnst or Lightning checkpoint"),
        (["--init", str(two_styles), "--width", "0.5"], "has width 0.25"),
        (["--init", f"{two_styles}:nope"], "no style 'nope'"),
        (["--trainable", "norms"], "--trainable norms needs --init"),
        (["--style", str(text_style)], "notes.jpg"),
        (["--style", str(STYLES / "candy.jpg"), str(STYLES / "mosaic.jpg"),
          "--strength-conditioned"], "--strength-conditioned takes one --style"),
    ]
    for extra, words in cases:
        capsys.readouterr()
        assert train_main([*base, *extra]) == 2, extra
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and words in err[0], (extra, err)
        assert not (tmp_path / "bad.ckpt").exists() and not (tmp_path / "runs" / "bad").exists()
    capsys.readouterr()
    no_name = ["--config", str(DEBUG_CONFIG), "--style", str(STYLES / "candy.jpg"),
               str(STYLES / "mosaic.jpg"), "--data", str(photos)]
    assert train_main(no_name) == 2
    assert "give it a --name" in capsys.readouterr().err


class CropSizes(L.Callback):
    """The crop size of each training step's batch, as training_step receives it."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self.sizes.append(batch["images"].shape[-1])


def test_small_crop_curriculum_then_full_size_and_resumed_time_adds_up(tmp_path, photos):
    overrides = {"style": (str(STYLES / "candy.jpg"),), "data": str(photos),
                 "runs_dir": str(tmp_path / "runs"), "output": str(tmp_path / "c.ckpt"),
                 "name": "curriculum", "width": 0.25, "max_steps": 3, "small_crop": 32,
                 "small_crop_steps": 2, "val_images": 1}
    sizes = CropSizes()
    train(resolve_train_config([str(DEBUG_CONFIG)], overrides), callbacks=[sizes])
    assert sizes.sizes == [32, 32, 64]
    first = torch.load(tmp_path / "c.ckpt", weights_only=True)["meta"]["train_seconds"]
    # --resume starts from the time the model file records, not from an earlier moment
    last = torch.load(tmp_path / "runs" / "curriculum" / "checkpoints" / "last.ckpt",
                      weights_only=False)["fastnst_counts"]["train_seconds"]
    assert round(last, 3) == first
    train(resolve_train_config([str(DEBUG_CONFIG)],
                               {**overrides, "resume": True, "max_steps": 4}))
    total = torch.load(tmp_path / "c.ckpt", weights_only=True)["meta"]["train_seconds"]
    assert total > first > 0  # the resumed stretch adds to the first, not replaces it


def test_the_time_guard_keeps_the_full_size_finish():
    # 10 full-size steps at 4x the pixels of a 4.5 s small step: 180 s must be left
    assert finish_must_start(seconds_left=179.0, seconds_per_small_step=4.5, finish_steps=10,
                             size_ratio=2.0)
    assert not finish_must_start(seconds_left=181.0, seconds_per_small_step=4.5,
                                 finish_steps=10, size_ratio=2.0)


class SlowClock:
    """A stand-in for the time module whose every reading is 1,000 s after the last: to the
    time guard, each training step looks far too slow for the minutes left."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1000.0
        return self.now


def test_small_crops_end_early_when_the_time_guard_would_cut_the_finish(tmp_path, photos,
                                                                         monkeypatch):
    overrides = {"style": (str(STYLES / "candy.jpg"),), "data": str(photos),
                 "runs_dir": str(tmp_path / "runs"), "output": str(tmp_path / "c.ckpt"),
                 "name": "guarded", "width": 0.25, "max_steps": 3, "small_crop": 32,
                 "small_crop_steps": 2, "val_images": 1, "max_minutes": 60.0}
    monkeypatch.setattr(training_module, "time", SlowClock())
    sizes = CropSizes()
    train(resolve_train_config([str(DEBUG_CONFIG)], overrides), callbacks=[sizes])
    # without the guard [32, 32, 64] (the test above); the one full-size step no longer fits
    # after the first small one, so the finish starts at once and runs to --max-steps
    assert sizes.sizes == [32, 64, 64]
