"""The LightningModule: a TransformerNet trained against a frozen VGG19 perceptual loss."""

from __future__ import annotations

import math
import warnings
from typing import Any

import lightning as L
import torch

from fastnst.config import TrainConfig
from fastnst.data import random_crop_flip
from fastnst.image import load_tensor
from fastnst.losses import PerceptualLoss
from fastnst.transformer import TransformerNet
from fastnst.vgg import VGG19Features

# Lightning warns whenever a LightningModule overriding this hook meets a DataModule; ours is
# meant to run (it crops photo-cache batches on the device), so the warning is only noise.
warnings.filterwarnings("ignore", message=".*overridden `on_after_batch_transfer`")


def build_perceptual_loss(config: TrainConfig) -> PerceptualLoss:
    """VGG19 + the style image's Gram targets (computed once here, on the CPU)."""
    style = load_tensor(config.style, config.max_pixels, config.style_size)
    return PerceptualLoss(
        VGG19Features(config.vgg_weights, config.pooling), style,
        config.content_layers, config.style_layers, config.style_layer_weights,
        config.content_weight, config.style_weight, config.tv_weight,
    )


class StyleTransferModule(L.LightningModule):
    """Trains `self.transformer`; batches come from fastnst.data.

    The frozen loss network is deliberately not a registered submodule: it stays out of
    checkpoints (they hold only the transform net and optimizer state) and out of DDP's
    gradient synchronisation. It is moved to the training device in `on_fit_start`.

    Speed: photo-cache batches (uint8) are cropped and flipped on the training device in
    `on_after_batch_transfer`; on CUDA, with config.channels_last, the transform net, VGG and
    batches use the channels_last layout (NHWC: cuDNN's tensor-core convs need no
    transposes); config.compile wraps the transform net and VGG in torch.compile for the
    training steps (the state dict keeps its plain keys).
    """

    def __init__(self, config: TrainConfig, hparams: dict[str, Any]) -> None:
        """hparams: the plain-data view of `config` (fastnst.config.config_to_dict)."""
        super().__init__()
        self.save_hyperparameters(hparams)
        self.config = config
        self.transformer = TransformerNet(width=config.width)
        perceptual = build_perceptual_loss(config)
        if config.compile:
            perceptual.vgg = torch.compile(perceptual.vgg)  # type: ignore[assignment]
        self.__dict__["perceptual"] = perceptual
        # The net the training steps call; forward() (samples, export checks) stays eager.
        self.__dict__["train_transformer"] = (torch.compile(self.transformer) if config.compile
                                              else self.transformer)
        self.memory_format = torch.contiguous_format
        self.skipped_images = 0

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
        if images.numel() == 0:  # every file of this batch was unreadable
            return None
        targets = self.perceptual.content_targets(images)
        terms = self.perceptual(self.__dict__["train_transformer"](images), targets)
        batch_size = images.shape[0]
        self.log_dict({"train/content": terms.content, "train/style": terms.style,
                       "train/tv": terms.tv}, batch_size=batch_size)
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
