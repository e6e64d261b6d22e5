"""Training in miniature: the real code path with configs/debug.yaml (CPU, 64 px)."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import lightning as L
import pytest
import torch
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fastnst.cli.eval import main as eval_main
from fastnst.cli.train import main as train_main
from fastnst.core.errors import FastNSTError
from fastnst.core.settings import config_to_dict, load_config
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import load_model, recorded_style
from fastnst.training.train import train
from fastnst.training.train_config import TrainConfig
from tests.conftest import DEBUG_CONFIG, ROOT, STYLE


def make_config(tmp_path: Path, photos: Path, style: Path, **overrides) -> TrainConfig:
    values = {"style": str(style), "data": str(photos), "runs_dir": str(tmp_path / "runs"),
              "output": str(tmp_path / "model.ckpt"), "name": "test", **overrides}
    return load_config(TrainConfig, [str(DEBUG_CONFIG)], values)


def scalars(run_dir: Path, tag: str) -> list[tuple[int, float]]:
    """(step, value) of a TensorBoard scalar; run_dir: a run folder or one event file."""
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


class BatchRecorder(L.Callback):
    """Records {global step: SHA-256 of the batch's images} as training_step receives them."""

    def __init__(self) -> None:
        self.batches: dict[int, str] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        images = batch["images"].detach().cpu().contiguous()
        self.batches[trainer.global_step] = hashlib.sha256(images.numpy().tobytes()).hexdigest()


@pytest.mark.slow
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
                "train/device/samples_per_sec", "data/skipped_images"):
        assert tag in tags["scalars"], tag
    assert {"samples/content", "samples/stylized"} <= set(tags["images"])
    # Images a second at every logged step after the first (log_every 1: each over one step).
    rates = scalars(run_dir, "train/device/samples_per_sec")
    assert len(rates) == 23 and len({step for step, _ in rates}) == 23, rates
    assert all(rate > 0 for _, rate in rates)
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


def test_corrupt_photos_are_replaced_and_counted(tmp_path, photos, style_image):
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    good = next(photos.glob("*.jpg")).read_bytes()
    (photos / "sub" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    config = make_config(tmp_path, photos, style_image, max_steps=4, batch_size=8)
    train(config)
    meta = torch.load(tmp_path / "model.ckpt", weights_only=True)["meta"]
    assert meta["images_seen"] == 4 * 8  # full batches: each bad file replaced by a good one
    # every step reads the whole folder (8 files, batch 8): both bad files, at least, each time
    assert meta["skipped_images"] >= 4 * 2
    skipped = scalars(tmp_path / "runs" / "test", "data/skipped_images")
    assert [step for step, _ in skipped] == [0, 1, 2, 3]
    assert skipped[-1][1] == meta["skipped_images"]  # the logged count is the running total


@pytest.mark.slow
def test_resume_draws_fresh_batches_and_retargets_the_schedule(tmp_path, photos, style_image):
    first, resumed, again = BatchRecorder(), BatchRecorder(), BatchRecorder()
    train(make_config(tmp_path, photos, style_image, max_steps=2, name="a"), callbacks=[first])
    train(make_config(tmp_path, photos, style_image, max_steps=6, name="a", resume=True,
                      lr=0.006), callbacks=[resumed])
    train(make_config(tmp_path, photos, style_image, max_steps=4, name="b",
                      output=str(tmp_path / "b.ckpt")), callbacks=[again])
    assert list(first.batches) == [0, 1] and list(resumed.batches) == [2, 3, 4, 5]
    # A fresh run with the same seed replays its batches (crops included) exactly ...
    assert [again.batches[step] for step in (0, 1)] == [first.batches[0], first.batches[1]]
    # ... a resumed one does not start over with the batches the run began with.
    assert not set(resumed.batches.values()) & set(again.batches.values())

    run = tmp_path / "runs" / "a"
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 6 and ckpt["fastnst_counts"]["images_seen"] == 6 * 2
    assert torch.load(tmp_path / "model.ckpt", weights_only=True)["meta"]["images_seen"] == 12
    # The 2-step run: 1 warm-up step (lr 0.003 x 1/2), the peak, then 0.1 x 0.003 were next.
    # Resumed with 6 steps and lr 0.006, the schedule is the new one from the first resumed
    # step: warm-up min(8, 6 - 1) = 5 steps, 0.006 x (step + 1) / 6, then the peak.
    lrs = dict(scalars(run, "lr"))
    assert lrs[0] == pytest.approx(0.003 / 2, rel=1e-6)
    assert lrs[1] == pytest.approx(0.003, rel=1e-6)
    for step, factor in ((2, 3 / 6), (3, 4 / 6), (4, 5 / 6), (5, 1.0)):
        assert lrs[step] == pytest.approx(0.006 * factor, rel=1e-6), step


# Runs train() in each DDP process (Lightning's launcher re-runs this script per rank) and saves
# what that process saw to $OUT/rank<R>.pt: its net's weights, losses, unreadable-file counts
# and the files its batches asked for, in order.
DDP_SCRIPT = """
import os
import sys

import lightning as L
import torch

from fastnst.cli.train import COMMAND
from fastnst.training.photos import PhotoFolder
from fastnst.training.train import resolve_train_config, train

requested = []
read_item = PhotoFolder.__getitem__


def recording_read(self, index):
    requested.append(self.paths[index].name)
    return read_item(self, index)


PhotoFolder.__getitem__ = recording_read


class Record(L.Callback):
    def __init__(self):
        self.losses, self.skipped = [], []

    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))
        self.skipped.append(int(batch["skipped"]))

    def on_train_end(self, trainer, module):
        state = {k: v.detach().cpu().clone() for k, v in module.transformer.state_dict().items()}
        torch.save({"state": state, "losses": self.losses, "skipped": self.skipped,
                    "requested": requested, "world_size": trainer.world_size},
                   os.path.join(os.environ["OUT"], f"rank{trainer.global_rank}.pt"))


files, flags = COMMAND.flags(sys.argv[1:])
train(resolve_train_config(files, flags), callbacks=[Record()])
"""


def run_ddp(tmp_path: Path, data: Path, style: Path, steps: int, *flags: str
            ) -> tuple[dict, list[dict]]:
    """Two CPU processes (gloo) train `steps` steps; returns (slim model payload, per rank)."""
    script = tmp_path / "ddp_train.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "ranks"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, str(script), "--config", str(DEBUG_CONFIG), "--style", str(style),
         "--data", str(data), "--runs-dir", str(tmp_path / "runs"), "--output",
         str(tmp_path / "ddp.ckpt"), "--strategy", "ddp", "--devices", "2", "--image-size",
         "32", "--style-size", "64", "--max-steps", str(steps), "--name", "ddp", *flags],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "OUT": str(out), "PYTHONPATH": str(ROOT)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    ranks = [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in (0, 1)]
    return torch.load(tmp_path / "ddp.ckpt", weights_only=True), ranks


def assert_same_weights(ranks: list[dict]) -> None:
    assert ranks[0]["world_size"] == ranks[1]["world_size"] == 2
    assert ranks[0]["state"].keys() == ranks[1]["state"].keys()
    for key, value in ranks[0]["state"].items():
        assert torch.equal(value, ranks[1]["state"][key]), key


@pytest.mark.slow
def test_two_process_ddp_on_cpu(tmp_path, photos, style_image):
    payload, ranks = run_ddp(tmp_path, photos, style_image, 3)
    assert payload["meta"]["steps"] == 3
    assert payload["meta"]["images_seen"] == 3 * 2 * 2  # steps x batch x processes
    assert payload["meta"]["skipped_images"] == 0
    assert_same_weights(ranks)
    for rank in ranks:
        assert len(rank["losses"]) == 3
        assert all(torch.isfinite(torch.tensor(rank["losses"])))
    # Each step the two processes train on different photos (2 per step from 6; the loader
    # fetches one batch ahead, so a fourth batch may have been read).
    batches = [[rank["requested"][i:i + 2] for i in range(0, 6, 2)] for rank in ranks]
    for step in range(3):
        assert len(set(batches[0][step]) | set(batches[1][step])) == 4, batches
    assert ranks[0]["losses"] != ranks[1]["losses"]


@pytest.mark.slow
def test_ddp_rank_with_only_unreadable_files_takes_the_step(tmp_path, photos, style_image):
    # One readable photo and three broken files, one photo per step: at some step one process
    # has only an unreadable file while the other has the photo. Before: that process skipped
    # the step and the other waited for it in the gradient all-reduce forever.
    data = tmp_path / "bad_data"
    data.mkdir()
    (data / "good.jpg").write_bytes(next(photos.glob("*.jpg")).read_bytes())
    for name in ("bad1.jpg", "bad2.jpg", "bad3.jpg"):
        (data / name).write_bytes(b"not a jpeg at all")
    payload, ranks = run_ddp(tmp_path, data, style_image, 2, "--batch-size", "1")
    assert_same_weights(ranks)
    per_rank = [sum(rank["skipped"]) for rank in ranks]
    # Each process gets two of the four files in the first epoch: one broken at least.
    assert per_rank[0] >= 1 and per_rank[1] >= 1
    assert payload["meta"]["skipped_images"] == per_rank[0] + per_rank[1]
    assert payload["meta"]["images_seen"] == 2 * 1 * 2
    logged = scalars(tmp_path / "runs" / "ddp", "data/skipped_images")
    assert logged[-1] == (1, per_rank[0] + per_rank[1])
    for rank in ranks:
        assert all(torch.isfinite(torch.tensor(rank["losses"])))


def test_kill_9_then_resume_continues_from_the_last_complete_checkpoint(
        tmp_path, photos, style_image, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = ["--config", str(DEBUG_CONFIG), "--style", str(style_image), "--data", str(photos),
            "--runs-dir", "runs", "--name", "kill", "--checkpoint-every", "1",
            "--image-every", "1000"]
    run = tmp_path / "runs" / "kill"
    last = run / "checkpoints" / "last.ckpt"
    with open(tmp_path / "train.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "fastnst.cli.train", *args, "--max-steps", "10000"],
            stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            deadline = time.monotonic() + 300
            while not last.is_file():
                assert process.poll() is None, (tmp_path / "train.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "no checkpoint after 300 s"
                time.sleep(0.05)
            time.sleep(random.Random(9).uniform(0.0, 1.0))  # somewhere in the next few steps
        finally:
            process.send_signal(signal.SIGKILL)
            process.wait()
    ckpts = [path for path in run.rglob("*.ckpt") if not path.name.startswith(".")]
    assert ckpts == [last]
    for path in ckpts:  # the rename is atomic: whole or the previous one
        torch.load(path, weights_only=True)
    saved = torch.load(last, weights_only=True)["global_step"]
    assert saved >= 1
    # What a kill in the middle of a checkpoint write leaves beside it:
    stale = last.parent / ".last.ckpt.k1ll3d.tmp.ckpt"
    stale.write_bytes(last.read_bytes()[:1000])
    before = set(run.glob("events.out.tfevents.*"))

    assert train_main([*args, "--resume", "--max-steps", str(saved + 3)]) == 0
    assert not list(last.parent.glob(".*.tmp.ckpt"))  # stale temp files removed at the start
    assert torch.load(last, weights_only=True)["global_step"] == saved + 3
    (events,) = set(run.glob("events.out.tfevents.*")) - before  # the resumed run's log
    # logged steps count from 0: step `saved` is the (saved + 1)-th optimizer step
    assert [step for step, _ in scalars(events, "train/total")] == [saved, saved + 1, saved + 2]
    net, meta = load_model(tmp_path / "models" / "kill.ckpt")
    assert meta["steps"] == saved + 3 and meta["style"] == "style"
    assert net(torch.rand(1, 3, 32, 32)).shape == (1, 3, 32, 32)


def test_eval_of_a_lightning_checkpoint_finds_its_style_and_loss(tmp_path, photos, style_image,
                                                                  capsys):
    config = make_config(tmp_path, photos, style_image, max_steps=1)
    train(config)
    last = tmp_path / "runs" / "test" / "checkpoints" / "last.ckpt"
    content = tmp_path / "content"
    content.mkdir()
    for i, photo in enumerate(sorted(photos.glob("*.jpg"))[:2]):
        Image.open(photo).resize((32, 24)).save(content / f"{i}.png")
    report_path = tmp_path / "report.json"
    assert eval_main(["--model", str(last), "--content", str(content), "--max-size", "32",
                      "--device", "cpu", "--baseline-iters", "1", "-o", str(report_path)]) == 0
    report = json.loads(report_path.read_text())
    # style_image is a copy of the bundled starry_night: found in the package by its hash.
    assert report["style"] == str(STYLE) and report["model_style"] == "style"
    assert report["baseline"]["loss_source"] == "checkpoint"
    assert report["baseline"]["loss"]["style_size"] == 128  # debug.yaml's, not the default 512

    # fastnst 0.1 saved the config's keys at the top of hyper_parameters, with no "arch".
    payload = torch.load(last, weights_only=True)
    payload["hyper_parameters"] = config_to_dict(config)
    payload.pop("fastnst_counts", None)
    old = tmp_path / "old.ckpt"
    torch.save(payload, old)
    net, meta = load_model(old)
    expected, _ = load_model(last)
    x = torch.rand(1, 3, 24, 40)
    with torch.no_grad():
        assert torch.equal(net(x), expected(x))
    assert meta["style"] == "style" and meta["style_sha256"] is None
    assert meta["steps"] == 1 and meta["config"]["style_size"] == 128
    assert recorded_style(meta) == style_image


def test_unusable_runs_dir_fails_with_one_line_and_writes_nothing(
        tmp_path, photos, style_image, readonly_dir, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    base = ["--config", str(DEBUG_CONFIG), "--style", str(style_image), "--data", str(photos)]
    for runs_dir, message in ((readonly_dir, f"cannot write to folder {readonly_dir}"),
                              (tmp_path / "missing" / "runs", "parent folder does not exist")):
        assert train_main([*base, "--runs-dir", str(runs_dir)]) == 2, runs_dir
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, err
    assert sorted(tmp_path.rglob("*")) == before  # no run folder, no checkpoints/, no logs


@pytest.mark.slow
def test_photoreal_training_keeps_outputs_locally_affine(tmp_path, photos, style_image):
    """--photoreal adds the affine term (logged as train/affine) and the training blend; a
    miniature run ends with outputs far closer to a local affine colour map of the photo
    than the same run without it, and the result loads like any model."""
    from fastnst.core.images import load_tensor
    from fastnst.losses.affine import MattingLaplacian

    photo = load_tensor(ROOT / "fastnst" / "assets" / "content" / "cornell.jpg", 10**8, 64)
    laplacian = MattingLaplacian.of(photo)
    energies, changes = {}, {}
    for photoreal in (False, True):
        folder = tmp_path / str(photoreal)
        folder.mkdir()
        config = make_config(folder, photos, style_image, max_steps=16, photoreal=photoreal)
        output = train(config)
        stylized = Stylizer.from_checkpoint(output, "cpu").stylize_tensor(photo)
        energies[photoreal] = laplacian.energy(stylized).item() / photo[0, 0].numel()
        changes[photoreal] = (stylized - photo).abs().mean().item()
        tags = EventAccumulator(str(folder / "runs" / "test"))
        tags.Reload()
        assert ("train/affine" in tags.Tags()["scalars"]) == photoreal
    # measured: 0.0004 against 0.017 a pixel, while both change the photo (mean 0.21, 0.15)
    assert energies[True] < 0.2 * energies[False], energies
    assert changes[True] > 0.05, changes  # restyled, not the photo passed through


@pytest.mark.slow
def test_temporal_weight_trains_a_steadier_model(tmp_path, photos, style_image):
    """--temporal-weight trains the net so that a slightly moved, noisier photo gives the
    moved output (logged as train/temporal): a miniature run ends far steadier under the same
    random motions than the same run without it, and still restyles the photo."""
    from fastnst.core.images import load_tensor
    from fastnst.training.motion import MotionRange, consistency_loss, moved_photos, random_motion

    photo = load_tensor(ROOT / "fastnst" / "assets" / "content" / "cornell.jpg", 10**8, 64)
    torch.manual_seed(1)
    motions = random_motion(8, MotionRange())
    photos_now = photo.expand(8, -1, -1, -1)
    next_photos, valid = moved_photos(photos_now, motions, MotionRange().noise)
    flicker, changes = {}, {}
    for weight in (0.0, 1000.0):
        folder = tmp_path / str(weight)
        folder.mkdir()
        output = train(make_config(folder, photos, style_image, max_steps=16,
                                   temporal_weight=weight))
        net = load_model(output)[0].eval()
        with torch.no_grad():
            stylized, stylized_next = net(photos_now), net(next_photos)
        flicker[weight] = consistency_loss(stylized_next, stylized, motions, valid).item()
        changes[weight] = (stylized[:1] - photo).abs().mean().item()
        assert ("train/temporal" in _scalar_tags(folder / "runs" / "test")) == (weight > 0)
    assert flicker[1000.0] < 0.5 * flicker[0.0], flicker
    assert changes[1000.0] > 0.05, changes  # restyled, not the photo passed through


def _scalar_tags(run_dir: Path) -> list[str]:
    events = EventAccumulator(str(run_dir))
    events.Reload()
    return events.Tags()["scalars"]
