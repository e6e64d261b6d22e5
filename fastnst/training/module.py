"""The LightningModule: a transform net trained against a frozen perceptual loss."""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import torch

from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.perceptual import PerceptualLoss
from fastnst.models.johnson import TransformerNet
from fastnst.training.cache import random_crop_flip
from fastnst.training.config import TrainConfig

# Lightning warns whenever a LightningModule overriding this hook meets a DataModule; ours is
# meant to run (it crops photo-cache batches on the device), so the warning is only noise.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`")


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
    """

    def __init__(self, config: TrainConfig, hparams: dict[str, Any]) -> None:
        """hparams: plain data saved in every Lightning checkpoint: {"config": the resolved
        config (fastnst.core.config.config_to_dict), "style_name", "style_sha256"}; the
        architecture is added here."""
        super().__init__()
        self.config = config
        self.transformer = TransformerNet(width=config.width)
        self.save_hyperparameters({**hparams, "arch": self.transformer.arch})
        perceptual = build_perceptual_loss(config, config.style)  # Grams once, on the CPU
        if config.compile:
            perceptual.network = torch.compile(perceptual.network)  # type: ignore[assignment]
        self.__dict__["perceptual"] = perceptual
        # The net the training steps call; forward() (samples, export checks) stays eager.
        self.__dict__["train_transformer"] = (torch.compile(self.transformer) if config.compile
                                              else self.transformer)
        self.memory_format = torch.contiguous_format
        self.skipped_images = 0
        self.images_seen = 0

    @property
    def perceptual(self) -> PerceptualLoss:
        return self.__dict__["perceptual"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.transformer(images)

    def setup(self, stage: str) -> None:
        # Before the optimizer exists, so Adam's moments get the parameters' layout.
        if self.config.channels_last and self.trainer.strategy.root_device.type == "cuda":
            self.memory_format = torch.channels_last
            self.transformer.to(memory_format=self.memory_format)

    def on_fit_start(self) -> None:
        self.perceptual.to(self.device, memory_format=self.memory_format)

    def on_train_start(self) -> None:
        # A resumed optimizer state may come from a run with the other layout (CPU <-> GPU);
        # fused Adam needs each moment laid out like its parameter.
        for optimizer in self.trainer.optimizers:
            for param, state in optimizer.state.items():
                for key, value in state.items():
                    if torch.is_tensor(value) and value.shape == param.shape:
                        state[key] = torch.empty_like(param).copy_(value)

    def on_after_batch_transfer(self, batch: dict[str, Any], dataloader_idx: int
                                ) -> dict[str, Any]:
        """Cache batches (N, C, C, 3) uint8 -> random crops (N, 3, S, S) in [0, 1], on device."""
        images: torch.Tensor = batch["images"]
        if images.dtype == torch.uint8:
            images = random_crop_flip(images, self.config.image_size)
        if images.dim() == 4:
            images = images.contiguous(memory_format=self.memory_format)
        return {**batch, "images": images}

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.skipped_images += int(batch["skipped"])
        images: torch.Tensor = batch["images"]
        self.images_seen += images.shape[0] * self.trainer.world_size
        if images.numel() == 0:  # every file of this batch was unreadable
            return None
        targets = self.perceptual.content_targets(images)
        terms = self.perceptual(self.__dict__["train_transformer"](images), targets)
        batch_size = images.shape[0]
        self.log_dict({f"train/{name}": value for name, value in terms.items()},
                      batch_size=batch_size)
        self.log("train/total", terms.total, prog_bar=True, batch_size=batch_size)
        self.log("data/skipped_images", float(self.skipped_images), reduce_fx="sum",
                 batch_size=batch_size)
        self.log("lr", self.trainer.optimizers[0].param_groups[0]["lr"], batch_size=batch_size)
        return terms.total

    def configure_optimizers(self) -> dict[str, Any]:
        optimizer = torch.optim.Adam(self.transformer.parameters(), lr=self.config.lr,
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
                "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
