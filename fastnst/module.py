"""The LightningModule: a TransformerNet trained against a frozen VGG19 perceptual loss."""

from __future__ import annotations

import math
from typing import Any

import lightning as L
import torch

from fastnst.config import TrainConfig
from fastnst.image import load_tensor
from fastnst.losses import PerceptualLoss
from fastnst.transformer import TransformerNet
from fastnst.vgg import VGG19Features


def build_perceptual_loss(config: TrainConfig) -> PerceptualLoss:
    """VGG19 + the style image's Gram targets (computed once here, on the CPU)."""
    style = load_tensor(config.style, config.max_pixels, config.style_size)
    return PerceptualLoss(
        VGG19Features(config.vgg_weights, config.pooling), style,
        config.content_layers, config.style_layers, config.style_layer_weights,
        config.content_weight, config.style_weight, config.tv_weight,
    )


class StyleTransferModule(L.LightningModule):
    """Trains `self.transformer`; batches come from fastnst.data (images in [0, 1], NCHW).

    The frozen loss network is deliberately not a registered submodule: it stays out of
    checkpoints (they hold only the transform net and optimizer state) and out of DDP's
    gradient synchronisation. It is moved to the training device in `on_fit_start`.
    """

    def __init__(self, config: TrainConfig, hparams: dict[str, Any]) -> None:
        """hparams: the plain-data view of `config` (fastnst.config.config_to_dict)."""
        super().__init__()
        self.save_hyperparameters(hparams)
        self.config = config
        self.transformer = TransformerNet(width=config.width)
        self.__dict__["perceptual"] = build_perceptual_loss(config)
        self.skipped_images = 0

    @property
    def perceptual(self) -> PerceptualLoss:
        return self.__dict__["perceptual"]

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.transformer(images)

    def on_fit_start(self) -> None:
        self.perceptual.to(self.device)

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> torch.Tensor | None:
        self.skipped_images += int(batch["skipped"])
        images: torch.Tensor = batch["images"]
        if images.numel() == 0:  # every file of this batch was unreadable
            return None
        targets = self.perceptual.content_targets(images)
        terms = self.perceptual(self.transformer(images), targets)
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
