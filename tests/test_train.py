"""Training in miniature: the real code path with configs/debug.yaml (CPU, 64 px)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fastnst.core.config import load_config
from fastnst.core.errors import FastNSTError
from fastnst.inference.stylizer import Stylizer
from fastnst.training.config import TrainConfig
from fastnst.training.train import train
from tests.conftest import DEBUG_CONFIG, ROOT


def make_config(tmp_path: Path, photos: Path, style: Path, **overrides) -> TrainConfig:
    values = {"style": str(style), "data": str(photos), "runs_dir": str(tmp_path / "runs"),
              "output": str(tmp_path / "model.ckpt"), "name": "test", **overrides}
    return load_config(TrainConfig, [str(DEBUG_CONFIG)], values)


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


def test_short_run_lowers_style_loss_and_logs_everything(tmp_path, photos, style_image):
    config = make_config(tmp_path, photos, style_image, max_steps=24)
    output = train(config)
    run_dir = tmp_path / "runs" / "test"
    style = [value for _, value in scalars(run_dir, "train/style")]
    assert len(style) == 24
    first, last = sum(style[:3]) / 3, sum(style[-3:]) / 3
    assert last < 0.8 * first, style
    events = EventAccumulator(str(run_dir))
    events.Reload()
    tags = events.Tags()
    for tag in ("train/content", "train/tv", "train/total", "lr",
                "throughput/images_per_s", "data/skipped_images"):
        assert tag in tags["scalars"], tag
    assert {"samples/content", "samples/stylized"} <= set(tags["images"])
    assert (run_dir / "checkpoints" / "last.ckpt").is_file()
    assert (run_dir / "config.yaml").is_file()
    payload = torch.load(output, weights_only=True)
    assert payload["meta"]["steps"] == 24 and "optimizer_states" not in payload
    assert output.stat().st_size < 8e6


def test_module_output_equals_stylize_output_and_resume_continues(tmp_path, photos, style_image):
    config = make_config(tmp_path, photos, style_image, max_steps=4)
    train(config)
    last = tmp_path / "runs" / "test" / "checkpoints" / "last.ckpt"
    lightning_ckpt = torch.load(last, weights_only=True)  # plain data only
    assert lightning_ckpt["global_step"] == 4
    assert not any(k.startswith(("perceptual", "vgg")) for k in lightning_ckpt["state_dict"])

    from fastnst.training.module import StyleTransferModule

    module = StyleTransferModule(config, {})
    module.transformer.load_state_dict(
        {k.removeprefix("transformer."): v for k, v in lightning_ckpt["state_dict"].items()})
    x = torch.rand(1, 3, 37, 41)
    with torch.no_grad():
        expected = module.eval()(x)
    for path in (tmp_path / "model.ckpt", last):  # slim and Lightning checkpoints
        assert torch.equal(Stylizer.from_checkpoint(path, device="cpu").stylize_tensor(x), expected)

    with pytest.raises(FastNSTError, match="already has checkpoints"):
        train(config)
    resumed = make_config(tmp_path, photos, style_image, max_steps=7, resume=True)
    train(resumed)
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["global_step"] == 7
    assert ckpt["lr_schedulers"][0]["last_epoch"] == 7  # scheduler state continued, not reset
    steps = [step for step, _ in scalars(tmp_path / "runs" / "test", "train/style")]
    assert steps[-3:] == [4, 5, 6]


def test_corrupt_photos_are_skipped_and_counted(tmp_path, photos, style_image):
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    good = next(photos.glob("*.jpg")).read_bytes()
    (photos / "sub" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    config = make_config(tmp_path, photos, style_image, max_steps=4, batch_size=8)
    train(config)
    skipped = scalars(tmp_path / "runs" / "test", "data/skipped_images")
    assert skipped[-1][1] >= 1  # every step sees the whole folder: both files, once or more
    assert torch.load(tmp_path / "model.ckpt", weights_only=True)["meta"]["skipped_images"] >= 2


def test_two_process_ddp_on_cpu(tmp_path, photos, style_image):
    env_python = sys.executable
    result = subprocess.run(
        [env_python, str(ROOT / "scripts" / "train.py"), "--config", str(DEBUG_CONFIG),
         "--style", str(style_image), "--data", str(photos), "--runs-dir", str(tmp_path / "runs"),
         "--output", str(tmp_path / "ddp.ckpt"), "--strategy", "ddp", "--devices", "2",
         "--max-steps", "3", "--name", "ddp"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "world_size: 2" in result.stderr + result.stdout or "distributed_backend=gloo" in (
        result.stderr + result.stdout)
    payload = torch.load(tmp_path / "ddp.ckpt", weights_only=True)
    assert payload["meta"]["steps"] == 3
    assert payload["meta"]["images_seen"] == 3 * 2 * 2  # steps x batch x processes
    Image.open(next((ROOT / "fastnst" / "assets" / "content").glob("*.jpg")))
