"""The LightningModule: a transform net trained against a frozen perceptual loss."""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import lightning as L
import torch
import torch.nn.functional as F

from fastnst.losses.affine import AffineTerm
from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.perceptual import STYLE_INDEX, LossTerms, PerceptualLoss
from fastnst.training.cache import random_crop_flip, random_crops
from fastnst.training.motion import MotionRange, consistency_loss, moved_photos, random_motion
from fastnst.training.train_config import TrainConfig
from fastnst.training.warmstart import build_transformer

# Lightning warns whenever a LightningModule overriding this hook meets a DataModule; ours is
# meant to run (it crops photo-cache batches on the device), so the warning is only noise.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`")

# --strength-conditioned: each batch trains at one strength s, which scales the style term
# (content + s * style + tv) and is fed to the net. s = 1 with this probability, else uniform
# in [0, 1): our choice, so the full style (fastnst-stylize's default) gets a quarter of the
# steps on top of its share of the uniform draws. Random loss weights per step, fed to the
# net, follow Babaeizadeh and Ghiasi 2020 ("Adjustable Real-time Style Transfer", ICLR).
FULL_STRENGTH_PROBABILITY = 0.25
# --temporal-weight: the synthetic motion between a photo and its "next frame".
MOTION = MotionRange()


def finish_must_start(seconds_left: float, seconds_per_small_step: float, finish_steps: int,
                      size_ratio: float) -> bool:
    """Whether a curriculum must leave its small crops now to keep its full-size finish.

    seconds_left: training time left under --max-minutes; seconds_per_small_step: measured
    so far; finish_steps: the full-size steps the recipe asks for; size_ratio: image_size /
    small_crop. A full-size step is priced at size_ratio^2 small ones (pixels: 4x at 256 vs
    128 px, where we measured 3.6x), so the estimate errs towards starting early.
    """
    return seconds_left <= finish_steps * seconds_per_small_step * size_ratio ** 2


def draw_strength() -> float:
    """One training strength in [0, 1] (see FULL_STRENGTH_PROBABILITY), from torch's global
    generator, which train() seeds per run."""
    if torch.rand(()).item() < FULL_STRENGTH_PROBABILITY:
        return 1.0
    return torch.rand(()).item()


def strength_weighted_total(terms: LossTerms, strength: float) -> torch.Tensor:
    """content + strength * style + tv: the total with only the style term scaled."""
    return torch.stack([value * strength if name == "style" else value
                        for name, value in terms.items()]).sum()


class StyleTransferModule(L.LightningModule):
    """Trains `self.transformer`; batches come from fastnst.training.datamodule.

    The frozen loss network is deliberately not a registered submodule: it stays out of
    checkpoints (they hold only the transform net and optimizer state) and out of DDP's
    gradient synchronisation. It is moved to the training device in `on_fit_start`.

    Speed: photo-cache batches (uint8) are cropped and flipped on the training device in
    `on_after_batch_transfer`; on CUDA, with config.channels_last, the nets and
    batches use the channels_last layout (NHWC: cuDNN's tensor-core convs need no
    transposes); config.compile wraps the transform net and VGG in torch.compile for the
    training steps (the state dict keeps its plain keys).

    Counts: `images_seen` and `skipped_images` (unreadable files) are totals over all
    processes and over resumes (kept in the Lightning checkpoint under "fastnst_counts").
    """

    # Read by Lightning's ThroughputMonitor; None: no FLOP rate or MFU logged (a step's
    # FLOPs depend on the crop, which the curriculum changes; fastnst-bench counts them).
    flops_per_batch: int | None = None

    def __init__(self, config: TrainConfig, hparams: dict[str, Any]) -> None:
        """hparams: plain data saved in every Lightning checkpoint: {"config": the resolved
        config (fastnst.core.settings.config_to_dict), "style_name", "style_sha256"}; the
        architecture is added here."""
        super().__init__()
        self.config = config
        # The norm row of each --style in a multi-style net (empty for a plain net).
        self.transformer, self.style_rows, self.init_meta = build_transformer(config)
        self.save_hyperparameters({**hparams, "arch": self.transformer.arch})
        styles = list(config.style) if self.style_rows else config.style[0]
        perceptual = build_perceptual_loss(config, styles)  # Grams once, on the CPU
        if config.photoreal:  # each photo's matting Laplacian, built per step on the device
            perceptual = PerceptualLoss(perceptual.network,
                                        [*perceptual.terms, AffineTerm(config.affine_weight)])
        if config.compile:
            perceptual.network = torch.compile(perceptual.network)  # type: ignore[assignment]
        self.__dict__["perceptual"] = perceptual
        # The net the training steps call; forward() (samples, export checks) stays eager.
        self.__dict__["train_transformer"] = (torch.compile(self.transformer) if config.compile
                                              else self.transformer)
        self.memory_format = torch.contiguous_format
        # (images seen, unreadable files skipped), summed over processes; kept on the
        # training device, so counting never waits for it.
        self.counts = torch.zeros(2, dtype=torch.int64)
        # Training seconds of the earlier stretches of a resumed run (from its checkpoint),
        # and when this stretch's training began.
        self.seconds_before = 0.0
        self.started: float | None = None
        self.last_step_end: float | None = None  # perf_counter at the end of the latest step
        # The curriculum's full-size finish began (set once, by the time guard or the step).
        self.finishing = False
        self.first_step = 0  # global step at which this stretch began

    @property
    def perceptual(self) -> PerceptualLoss:
        return self.__dict__["perceptual"]

    @property
    def images_seen(self) -> int:
        """Training images stepped on so far, all processes and resumes together."""
        return int(self.counts[0])

    @property
    def skipped_images(self) -> int:
        """Unreadable training files met so far (each replaced by a readable one), all
        processes and resumes together."""
        return int(self.counts[1])

    @property
    def train_seconds(self) -> float:
        """Seconds of training so far, every stretch of a resumed run together, each from its
        start to the end of its latest step. The end-of-fit work (sample images, the last
        checkpoint, the final score) is left out, so the last checkpoint and the model file
        record the same time and a resumed run's total only grows. (A checkpoint saved by a
        callback within a step counts up to the step before.)"""
        if self.started is None or self.last_step_end is None:
            return self.seconds_before
        return self.seconds_before + self.last_step_end - self.started

    def style_mix(self, count: int, offset: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A multi-style net's inputs for `count` images: (style index in --style order (N,),
        one-hot style weights over the net's rows (N, K)). Styles take turns image by image,
        continuing from `offset`, so every style gets the same share of the steps."""
        index = (torch.arange(count, device=self.device) + offset) % len(self.style_rows)
        rows = torch.tensor(self.style_rows, device=self.device)[index]
        return index, F.one_hot(rows, len(self.transformer.styles)).float()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Stylize (N, 3, H, W) in [0, 1]; a multi-style net gives image i the i-th trained
        style (cycling), so sample grids show every style."""
        if not self.style_rows:
            return self.transformer(images)
        return self.transformer(images, style=self.style_mix(images.shape[0])[1])

    def setup(self, stage: str) -> None:
        # Before the optimizer exists, so Adam's moments get the parameters' layout.
        if self.config.channels_last and self.trainer.strategy.root_device.type == "cuda":
            self.memory_format = torch.channels_last
            self.transformer.to(memory_format=self.memory_format)

    def on_fit_start(self) -> None:
        self.perceptual.to(self.device, memory_format=self.memory_format)

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["fastnst_counts"] = {"images_seen": self.images_seen,
                                        "skipped_images": self.skipped_images,
                                        "train_seconds": self.train_seconds}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        counts = checkpoint.get("fastnst_counts", {})  # absent in fastnst 0.1 checkpoints
        self.counts = torch.tensor([counts.get("images_seen", 0),
                                    counts.get("skipped_images", 0)], dtype=torch.int64)
        self.seconds_before = float(counts.get("train_seconds", 0.0))

    def on_train_start(self) -> None:
        self.started = time.perf_counter()
        self.last_step_end = None
        self.first_step = self.trainer.global_step
        # A resumed optimizer state may come from a run with the other layout (CPU <-> GPU);
        # fused Adam needs each moment laid out like its parameter.
        for optimizer in self.trainer.optimizers:
            for param, state in optimizer.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        state[key] = torch.empty_like(param).copy_(value)
        # The schedule is this config's (--lr, --warmup-steps, --lr-final-ratio, --max-steps:
        # configure_optimizers) at the restored step. A resumed scheduler brings back its old
        # base rate and the optimizer the rate the old schedule set for this step: replace
        # both now, so a resume with new values follows them from its first step.
        for scheduler_config in self.trainer.lr_scheduler_configs:
            scheduler = scheduler_config.scheduler
            scheduler.base_lrs = [self.config.lr] * len(scheduler.base_lrs)
            for group, factor in zip(scheduler.optimizer.param_groups, scheduler.lr_lambdas,
                                     strict=True):
                group["lr"] = self.config.lr * factor(scheduler.last_epoch)

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        self.last_step_end = time.perf_counter()  # the clock of train_seconds

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int
                                ) -> dict[str, Any]:
        """Cache batches (N, C, C, 3) uint8 -> random crops (N, 3, S, S) in [0, 1], on device."""
        images: torch.Tensor = batch["images"]
        if images.dtype == torch.uint8:
            images = random_crop_flip(images, self.config.image_size)
        if self._small_crops_now():
            images = random_crops(images, self.config.small_crop)
        if images.dim() == 4:
            images = images.contiguous(memory_format=self.memory_format)
        return {**batch, "images": images}

    def _small_crops_now(self) -> bool:
        """Whether this step trains on --small-crop crops: the first --small-crop-steps steps,
        unless --max-minutes would then cut the full-size finish (the last max_steps -
        small_crop_steps steps) short. The finish does most of the curriculum's work (README,
        lever 3), so on a slower or busier machine the small crops end early instead."""
        config, step = self.config, self.trainer.global_step
        if self.finishing or not config.small_crop or step >= config.small_crop_steps:
            return False
        steps_done = step - self.first_step
        if config.max_minutes is not None and steps_done > 0 and self.started is not None:
            per_step = (time.perf_counter() - self.started) / steps_done
            self.finishing = finish_must_start(
                config.max_minutes * 60 - self.train_seconds, per_step,
                config.max_steps - config.small_crop_steps, config.image_size / config.small_crop)
        return not self.finishing

    def _count(self, images: int, skipped: int) -> None:
        """Add this step's counts of every process to `counts`: one all-reduce, queued on the
        device (Lightning's strategy.reduce puts a barrier before it, which stalls each step)."""
        step_counts = torch.empty(2, dtype=torch.int64, device=self.device)
        step_counts[0].fill_(images)  # scalar fills: no host-to-device copy to wait for
        step_counts[1].fill_(skipped)
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(step_counts)  # sum over processes
        self.counts = self.counts.to(self.device) + step_counts  # .to: a no-op after step 1

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor:
        # Every process returns a loss at every step: DDP's gradient all-reduce waits for all
        # (the data never gives an empty batch: unreadable files are replaced).
        images: torch.Tensor = batch["images"]
        self._count(images.shape[0], int(batch["skipped"]))
        targets = self.perceptual.content_targets(images)
        net = self.__dict__["train_transformer"]
        batch_size = images.shape[0]
        strength = 1.0
        if self.config.strength_conditioned:
            strength = draw_strength()
            condition: dict[str, Any] = {
                "strength": torch.full((1,), strength, device=images.device)}
            self.log("train/strength", strength, batch_size=batch_size)
        elif self.style_rows:  # multi-style: styles take turns image by image
            index, mix = self.style_mix(batch_size, self.global_step * batch_size)
            targets[STYLE_INDEX] = index
            condition = {"style": mix}
        else:
            condition = {}
        output = net(images, **condition)
        terms = self.perceptual(self._training_output(output, images), targets)
        total = strength_weighted_total(terms, strength)
        # train/style is the unscaled term: comparable across strengths and runs.
        self.log_dict({f"train/{name}": value for name, value in terms.items()},
                      batch_size=batch_size)
        if self.config.temporal_weight:
            # The same photos a moment later (fastnst.training.motion), stylized the same way.
            motions = random_motion(batch_size, MOTION, images.device)
            next_images, valid = moved_photos(images, motions, MOTION.noise)
            consistency = consistency_loss(net(next_images, **condition), output, motions,
                                           valid)
            total = total + self.config.temporal_weight * consistency
            self.log("train/temporal", consistency, batch_size=batch_size)
        # Not on the progress bar: showing it reads the value back every step, which makes
        # the host wait for the GPU.
        self.log("train/total", total, batch_size=batch_size)
        # Already a total over processes: logged as is (rank 0's copy), no sync needed.
        self.log("data/skipped_images", self.counts[1].float(), batch_size=batch_size)
        return total

    def _training_output(self, output: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
        """What the loss sees: the net's output, or for --photoreal its blend with the photo,
        A * output + (1 - A) * photo (A = --photoreal-blend; the source's training-time
        alpha, so the net learns outputs that stay photos once blended; not at inference)."""
        if not self.config.photoreal or self.config.photoreal_blend == 1.0:
            return output
        alpha = self.config.photoreal_blend
        return alpha * output + (1.0 - alpha) * images.to(output.dtype)

    def configure_optimizers(self) -> dict[str, Any]:
        trainable = [p for p in self.transformer.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(trainable, lr=self.config.lr,
                                     fused=self.device.type == "cuda")
        total = max(1, int(self.trainer.estimated_stepping_batches))
        warmup = min(self.config.warmup_steps, total - 1)
        floor = self.config.lr_final_ratio

        def warmup_cosine(step: int) -> float:
            """Learning-rate factor: linear from 0 to 1 over `warmup`, then cosine to `floor`."""
            if step < warmup:
                return (step + 1) / (warmup + 1)
            progress = min(step - warmup, total - warmup) / max(1, total - warmup)
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine)
        return {"optimizer": optimizer,
                # "name": the key Lightning's LearningRateMonitor logs the rate under (train())
                "lr_scheduler": {"scheduler": scheduler, "interval": "step", "name": "lr"}}
