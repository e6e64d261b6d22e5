"""fastnst.evaluate and fastnst-eval: the metric on known answers, the report, the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastnst.cli.eval import main as eval_main
from fastnst.core.images import load_tensor
from fastnst.evaluation.evaluate import size_batches, training_loss_config
from fastnst.evaluation.metrics import METRIC_STYLE_LAYERS, QualityMetric, relative_error
from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.functional import gram_matrix
from fastnst.losses.loss_config import LossConfig
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet
from fastnst.slow.gatys import stylize_slow
from tests.conftest import ASSETS, CONTENT, STYLE


@pytest.fixture(scope="module")
def metric() -> QualityMetric:
    return QualityMetric(load_tensor(STYLE, 10**8, 64))


@pytest.fixture
def small_photos(tmp_path: Path) -> Path:
    """Two landscape photos and one portrait one, at most 48 px."""
    folder = tmp_path / "content"
    folder.mkdir()
    for i, source in enumerate(sorted((ASSETS / "photos").glob("*.jpg"))[:3]):
        Image.open(source).convert("RGB").resize((48, 32) if i < 2 else (32, 48)).save(
            folder / f"{i}.png")
    return folder


def make_model(path: Path, style: Path | None, **loss: object) -> Path:
    """A tiny untrained slim checkpoint whose training config names `style` and `loss`."""
    torch.manual_seed(0)
    config = {"style": str(style), **loss} if style is not None else None
    meta = {"style": "starry_night", **({"config": config} if config else {})}
    return save_model(TransformerNet(width=0.25), path, meta=meta)


def test_relative_error_hand_values():
    target = torch.tensor([[3.0, 4.0]])  # ||target||^2 = 25, broadcast over the batch
    value = torch.tensor([[3.0, 4.0], [0.0, 0.0], [6.0, 8.0], [3.0, 0.0]])
    assert relative_error(value, target).tolist() == pytest.approx([0.0, 1.0, 1.0, 16 / 25])


def test_gram_scale_relations():
    features = torch.rand(2, 8, 5, 7)
    # G(2F) = 4 G(F): relative error (4 - 1)^2 = 9; features 2F vs F: (2 - 1)^2 = 1.
    assert relative_error(gram_matrix(2 * features), gram_matrix(features)).tolist() == \
        pytest.approx([9.0, 9.0])
    assert relative_error(2 * features, features).tolist() == pytest.approx([1.0, 1.0])
    # Grams are normalized by C*H*W, so an image tiled 2x2 in space has its tile's Gram.
    tiled = features.repeat(1, 1, 2, 2)
    assert relative_error(gram_matrix(tiled), gram_matrix(features)).abs().max() < 1e-10


def test_identical_images_score_zero(metric):
    content = load_tensor(CONTENT, 10**8, 48)
    (errors,) = metric(content, content)
    assert errors.content == 0.0
    style = load_tensor(STYLE, 10**8, 64)  # the metric's own style image
    (errors,) = metric(style, style)
    assert errors.style == pytest.approx(0.0, abs=1e-6) and errors.content == 0.0
    assert set(errors.style_per_layer) == set(METRIC_STYLE_LAYERS)


def test_different_images_score_above_zero_and_per_image(metric):
    content = load_tensor(CONTENT, 10**8, 48)
    other = torch.rand_like(content)
    both = torch.cat([content, other])  # (2, 3, H, W): output 0 is the content itself
    errors = metric(both, torch.cat([content, content]))
    assert errors[0].content == 0.0 and errors[1].content > 0.01
    assert all(e.style > 0.01 for e in errors)
    assert errors[0].style == pytest.approx(sum(errors[0].style_per_layer.values()) / 5)
    with pytest.raises(ValueError, match="differ in shape"):
        metric(content, both)


def test_size_batches_groups_sizes_and_balances():
    sizes = [(32, 48)] * 5 + [(48, 32)] * 2 + [(32, 48)]
    batches = size_batches(sizes, 4)
    assert sorted(i for batch in batches for i in batch) == list(range(8))
    assert all(len({sizes[i] for i in batch}) == 1 and len(batch) <= 4 for batch in batches)
    assert [len(batch) for batch in batches] == [3, 3, 2]  # 6 same-sized: 3 + 3, not 4 + 2


def test_training_loss_config_reads_checkpoint_or_defaults():
    assert training_loss_config({}) == (LossConfig(), "defaults")
    config, source = training_loss_config({"config": {
        "style_layers": ["relu1_1", "relu2_1"], "content_weight": 2, "tv_weight": 0.5,
        "max_steps": 10, "style": "x.jpg"}})
    assert source == "checkpoint" and config.style_layers == ("relu1_1", "relu2_1")
    assert config.content_weight == 2.0 and config.tv_weight == 0.5
    assert config.style_size == LossConfig().style_size  # absent: the default


def test_batched_lbfgs_lowers_every_images_loss():
    """The baseline optimizes a batch jointly (the sum of per-image losses): each image's own
    loss goes down, and two copies of one image in the batch get the same result."""
    style = load_tensor(STYLE, 10**8, 32)
    loss_fn = build_perceptual_loss(LossConfig(style_size=32), style)
    a = load_tensor(CONTENT, 10**8, 32)
    batch = torch.cat([a, a.flip(-1), a])  # (3, 3, H, W)
    result, _ = stylize_slow(batch, loss_fn, "lbfgs", iterations=4, progress=False)
    assert result.shape == batch.shape

    def image_loss(images: torch.Tensor, content: torch.Tensor) -> float:
        with torch.no_grad():
            return loss_fn(images, loss_fn.content_targets(content)).total.item()

    for row in range(3):
        before = image_loss(batch[row:row + 1], batch[row:row + 1])
        assert image_loss(result[row:row + 1], batch[row:row + 1]) < 0.9 * before, row
    torch.testing.assert_close(result[0], result[2])


def test_eval_cli_fast_and_baseline_json(tmp_path, small_photos, capsys):
    model = make_model(tmp_path / "m.ckpt", STYLE, style_size=32, content_layers=["relu3_1"],
                       style_layers=["relu1_1", "relu2_1"], content_weight=1e-4)
    out = tmp_path / "metrics.json"
    code = eval_main(["--model", str(model), "--content", str(small_photos), "--max-size", "48",
                      "--baseline-iters", "2", "--batch-size", "2", "--device", "cpu",
                      "-o", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "fast / baseline" in printed and "baseline (2 L-BFGS)" in printed
    report = json.loads(out.read_text())
    assert report["num_images"] == 3 and report["style"] == str(STYLE)
    assert report["metric"] == {"vgg_weights": "caffe", "pooling": "max",
                                "style_layers": list(METRIC_STYLE_LAYERS),
                                "content_layer": "relu4_2", "style_size": 512}
    images = report["images"]
    assert [(i["width"], i["height"]) for i in images] == [(48, 32), (48, 32), (32, 48)]
    for key in ("style_error", "content_error"):
        for variant in ("fast", "baseline"):
            mean = sum(i[variant][key] for i in images) / 3
            assert report[variant][key] == pytest.approx(mean)
        assert report["fast_over_baseline"][key] == pytest.approx(
            report["fast"][key] / report["baseline"][key])
    baseline = report["baseline"]
    assert baseline["iterations"] == 2 and baseline["loss_source"] == "checkpoint"
    loss = baseline["loss"]
    assert loss["style_layers"] == ["relu1_1", "relu2_1"] and loss["content_weight"] == 1e-4
    assert loss["content_layers"] == ["relu3_1"] and loss["style_size"] == 32
    # The baseline starts from the content and moves away from it; the untrained net is far off.
    assert all(0 < i["baseline"]["content_error"] < i["fast"]["content_error"] for i in images)
    assert set(images[0]["fast"]["style_error_per_layer"]) == set(METRIC_STYLE_LAYERS)


def test_eval_without_baseline_and_with_explicit_style(tmp_path, small_photos, capsys):
    model = make_model(tmp_path / "m.ckpt", None)
    other_style = ASSETS / "styles" / "mosaic.jpg"
    code = eval_main(["--model", str(model), "--content", str(small_photos), "--max-size", "32",
                      "--style", str(other_style), "--device", "cpu"])
    assert code == 0
    printed = capsys.readouterr().out
    assert "L-BFGS" not in printed and str(other_style) in printed


def test_eval_bad_inputs_fail_with_one_line(tmp_path, small_photos, capsys):
    no_style = make_model(tmp_path / "m.ckpt", tmp_path / "gone.jpg")
    out = tmp_path / "metrics.json"
    cases = [
        (["--model", str(no_style), "--content", str(small_photos)], "--style"),
        (["--model", str(no_style), "--content", str(tmp_path / "nope")], "no such file"),
        (["--model", "no_such_model", "--content", str(small_photos)], "no model named"),
        (["--model", str(no_style), "--content", str(small_photos), "-o",
          str(tmp_path / "m.txt")], ".json"),
        (["--content", str(small_photos)], "--model is required"),
        (["--model", str(no_style), "--content", str(small_photos), "--batch-size", "0"],
         "--batch-size"),
    ]
    for argv, message in cases:
        output = [] if "-o" in argv else ["-o", str(out)]
        assert eval_main([*argv, *output, "--device", "cpu"]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)
    assert not out.exists()


def test_eval_of_the_shipped_model_needs_no_style_flag_and_no_development_data(tmp_path, capsys):
    """`fastnst-eval --model starry_night` without --style scores against the bundled file the
    shipped model was trained on (matched by its recorded SHA-256), never a path on the
    machine that trained it; also when that path is gone (a fresh clone without ../shared)."""
    from fastnst.core.assets import SHIPPED_MODELS_DIR, STYLES_DIR
    from fastnst.models.checkpoint import file_sha256

    bundled = STYLES_DIR / "starry_night.jpg"
    # starry_night is one of the eight styles of the shipped multi-style model.
    payload = torch.load(SHIPPED_MODELS_DIR / "paintings.ckpt", weights_only=True)
    assert file_sha256(bundled) == payload["meta"]["styles"]["starry_night"]["sha256"]
    moved = tmp_path / "elsewhere" / "paintings.ckpt"
    moved.parent.mkdir()
    payload["meta"]["config"]["style"] = [str(tmp_path / "gone" / "shared" / Path(style).name)
                                          for style in payload["meta"]["config"]["style"]]
    torch.save(payload, moved)
    content = tmp_path / "photo.png"
    Image.open(CONTENT).convert("RGB").resize((40, 30)).save(content)
    for model in ("starry_night", f"{moved}:starry_night"):
        out = tmp_path / "report.json"
        assert eval_main(["--model", model, "--content", str(content), "--max-size", "40",
                          "--device", "cpu", "-o", str(out)]) == 0, capsys.readouterr().err
        assert json.loads(out.read_text())["style"] == str(bundled), model
