"""Training batches for Lightning: a shuffled DataLoader over a photo folder or cache."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, RandomSampler

from fastnst.core.errors import FastNSTError
from fastnst.core.images import IMAGE_SUFFIXES
from fastnst.training.cache import PhotoCache, collate_cache, is_cache
from fastnst.training.photos import PhotoFolder, collate_photos


def open_dataset(data: str | Path, image_size: int, max_pixels: int) -> PhotoFolder | PhotoCache:
    """A photo cache if `data` is one (its crop size must be `image_size`), else a PhotoFolder."""
    if is_cache(data):
        cache = PhotoCache(data)
        if cache.image_size != image_size:
            raise FastNSTError(
                f"--data {data} was prepared for {cache.image_size} px crops, not --image-size "
                f"{image_size}; re-run fastnst-prepare-data --image-size {image_size}")
        return cache
    dataset = PhotoFolder(data, image_size, max_pixels, train=True)
    if len(dataset) == 0:
        raise FastNSTError(f"no images in {data} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return dataset


def make_loader(dataset: PhotoFolder | PhotoCache, batch_size: int, num_workers: int,
                num_samples: int | None = None) -> DataLoader:
    """Shuffled training batches; num_samples: draw that many with replacement instead of
    epochs without (the benchmark uses it to run any number of steps on a few photos)."""
    sampler = (RandomSampler(dataset, replacement=True, num_samples=num_samples)
               if num_samples is not None else None)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=collate_cache if isinstance(dataset, PhotoCache) else collate_photos,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        drop_last=len(dataset) >= batch_size,
    )


class PhotoDataModule(L.LightningDataModule):
    """Shuffled training batches from a photo folder (random crops) or a photo cache."""

    def __init__(self, data: str, image_size: int, batch_size: int, num_workers: int,
                 max_pixels: int, seed: int = 0) -> None:
        super().__init__()
        self.dataset = open_dataset(data, image_size, max_pixels)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def train_dataloader(self) -> DataLoader:
        return make_loader(self.dataset, self.batch_size, self.num_workers)
