"""The quality report of fastnst-train (fastnst.training.callbacks.QualityReport,
fastnst.evaluation.quality) and fastnst-info, which prints it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fastnst.cli.info import NO_REPORT_LIGHTNING, NO_REPORT_SLIM
from fastnst.cli.info import main as info_main
from fastnst.core.errors import FastNSTError
from fastnst.core.images import list_images, load_tensor
from fastnst.core.settings import load_config
from fastnst.evaluation.metrics import METRIC_STYLE_SIZE, QualityMetric
from fastnst.evaluation.quality import HeldOutPhotos
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import load_model, save_model
from fastnst.models.johnson import TransformerNet
from fastnst.training.train import train
from fastnst.training.train_config import TrainConfig
from tests.conftest import ASSETS, DEBUG_CONFIG


@pytest.fixture
def held_out(tmp_path: Path) -> Path:
    """Two tiny photos, landscape and portrait: scored at 32 px they are two batches."""
    folder = tmp_path / "held_out"
    folder.mkdir()
    Image.open(ASSETS / "content" / "chicago.jpg").resize((48, 40)).save(folder / "a.jpg")
    Image.open(ASSETS / "content" / "amber.jpg").resize((40, 48)).save(folder / "b.jpg")
    return folder


def make_config(tmp_path: Path, photos: Path, style: Path, **overrides) -> TrainConfig:
    values = {"style": str(style), "data": str(photos), "runs_dir": str(tmp_path / "runs"),
              "output": str(tmp_path / "model.ckpt"), "name": "test", **overrides}
    return load_config(TrainConfig, [str(DEBUG_CONFIG)], values)


def test_report_is_logged_stored_printed_and_shown_by_info(
        tmp_path, photos, style_image, held_out, one_thread, capsys):
    config = make_config(tmp_path, photos, style_image, eval_every=2, eval_size=32,
                         eval_data=str(held_out), eval_baseline_iters=2)
    output = train(config)
    printed = capsys.readouterr().out

    # TensorBoard: scored at steps 2 and 4 (the end), once each.
    events = EventAccumulator(str(tmp_path / "runs" / "test"))
    events.Reload()
    logged = {tag: [(e.step, e.value) for e in events.Scalars(tag)]
              for tag in ("eval/style", "eval/content")}
    assert [step for step, _ in logged["eval/style"]] == [2, 4]
    assert [step for step, _ in logged["eval/content"]] == [2, 4]

    # The slim checkpoint's meta: the same numbers as scoring the saved model directly.
    report = torch.load(output, weights_only=True)["meta"]["eval"]
    assert (report["num_images"], report["size"], report["data"], report["step"]) == (
        2, 32, str(held_out), 4)
    net, _ = load_model(output)
    metric = QualityMetric(load_tensor(style_image, config.max_pixels, METRIC_STYLE_SIZE))
    stylizer = Stylizer(net, device="cpu")
    errors = []
    for photo in list_images([str(held_out)]):
        content = load_tensor(photo, config.max_pixels, 32)
        assert max(content.shape[-2:]) == 32
        errors += metric(stylizer.stylize_tensor(content), content)
    style = sum(e.style for e in errors) / 2
    content_error = sum(e.content for e in errors) / 2
    assert report["style_error"] == pytest.approx(style, rel=1e-5, abs=1e-5)
    assert report["content_error"] == pytest.approx(content_error, rel=1e-5, abs=1e-5)
    assert logged["eval/style"][-1][1] == pytest.approx(style, rel=1e-5)
    assert logged["eval/content"][-1][1] == pytest.approx(content_error, rel=1e-5)
    assert 0 < style and 0 < content_error

    baseline = report["baseline"]
    assert baseline["iterations"] == 2 and baseline["optimizer"] == "lbfgs"
    assert baseline["init"] == "content"
    # Two L-BFGS evaluations from the content barely move it: content error stays near 0.
    assert 0 <= baseline["content_error"] < content_error
    assert baseline["style_error"] > 0

    # The table at the end of training.
    ratio = f"{style / baseline['style_error']:12.3f}"
    assert f"{'fast (this model)':24}{style:12.4g}{content_error:15.4g}" in printed
    assert "baseline (2 L-BFGS)" in printed and f"fast / baseline         {ratio}" in printed

    # fastnst-info prints the same table; --json everything the file records.
    assert info_main([str(output)]) == 0
    shown = capsys.readouterr().out
    assert f"{style:12.4g}{content_error:15.4g}" in shown
    assert "training: 4 steps, 8 images seen" in shown
    assert "recipe: image_size 64, batch_size 2, lr 0.003, max_steps 4" in shown
    assert info_main([str(output), "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert recorded["meta"]["eval"] == report
    assert recorded["arch"]["name"] == "johnson" and recorded["parameters"] > 0

    # The Lightning checkpoint has no report: fastnst-info says where it is.
    assert info_main([str(tmp_path / "runs" / "test" / "checkpoints" / "last.ckpt")]) == 0
    shown = capsys.readouterr().out
    assert "Lightning checkpoint" in shown and NO_REPORT_LIGHTNING in shown


def test_info_on_a_model_trained_before_the_report(tmp_path, capsys):
    # as fastnst 0.1 saved its starry_night preview: training figures, no quality report
    old = save_model(TransformerNet(), tmp_path / "old.ckpt",
                     meta={"style": "starry_night", "steps": 500, "images_seen": 2000,
                           "train_seconds": 4789.8})
    assert info_main([str(old)]) == 0
    shown = capsys.readouterr().out.splitlines()
    assert shown[-1] == NO_REPORT_SLIM
    assert "architecture: johnson (width 1.0, num_residual 5), 1,679,235 parameters" in shown
    assert "training: 500 steps, 2,000 images seen, 4789.8 s" in shown


def test_no_held_out_photos_fails_before_training(tmp_path, photos, style_image):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FastNSTError, match="empty"):
        train(make_config(tmp_path, photos, style_image, eval_data=str(empty)))
    assert not (tmp_path / "model.ckpt").exists()
    assert not (tmp_path / "runs" / "test" / "checkpoints").exists()


def test_a_failing_final_score_keeps_the_trained_weights(tmp_path, photos, style_image,
                                                         monkeypatch):
    # The first multi-style run on a GPU crashed in its end-of-training score and lost its
    # weights: the last checkpoint must be on disk before that score runs.
    def broken(self, net):  # type: ignore[no-untyped-def]
        raise RuntimeError("scoring failed")

    monkeypatch.setattr(HeldOutPhotos, "score", broken)
    with pytest.raises(RuntimeError, match="scoring failed"):
        train(make_config(tmp_path, photos, style_image, max_steps=3))  # saves every 2
    last = tmp_path / "runs" / "test" / "checkpoints" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 3
    assert not (tmp_path / "model.ckpt").exists()  # no model file claims a score it lacks
