"""Training batches for Lightning: a shuffled DataLoader over a photo folder or cache.

Randomness: a run's data seed is `run_seed(seed, step it starts at)`. A fresh run (step 0)
replays exactly for a given --seed; a resumed run draws new batches and crops instead of
repeating those its first run began with (mid-epoch data positions are not saved).
"""

from __future__ import annotations

import hashlib
import warnings
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


def mix_seed(*parts: int) -> int:
    """A seed in [0, 2**32) (what L.seed_everything accepts) that depends on every part."""
    digest = hashlib.sha256(repr(parts).encode()).digest()
    return int.from_bytes(digest[:4], "little")


def run_seed(seed: int, start_step: int) -> int:
    """The seed of a run that starts at optimizer step `start_step` (0: a fresh run).

    A fresh run uses `seed` itself; a run resumed at step k > 0 uses a seed mixed from
    (seed, k), so its shuffling, data-loader worker seeds and crops differ from those of the
    original run's first steps, and two resumes from the same checkpoint still agree.
    """
    return seed if start_step == 0 else mix_seed(seed, start_step)


def make_loader(dataset: PhotoFolder | PhotoCache, batch_size: int, num_workers: int,
                num_samples: int | None = None, seed: int | None = None) -> DataLoader:
    """Shuffled training batches; num_samples: draw that many with replacement instead of
    epochs without (the benchmark uses it to run any number of steps on a few photos).

    seed: the shuffling order and the data-loader workers' base seed (None: drawn from torch's
    global RNG). Under DDP, Lightning swaps the shuffling for a DistributedSampler seeded by
    L.seed_everything's seed.
    """
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    sampler = (RandomSampler(dataset, replacement=True, num_samples=num_samples,
                             generator=generator) if num_samples is not None else None)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=sampler is None,
        sampler=sampler,
        generator=generator,
        num_workers=num_workers,
        collate_fn=collate_cache if isinstance(dataset, PhotoCache) else collate_photos,
        pin_memory=torch.cuda.is_available(),
        persistent_workers=num_workers > 0,
        drop_last=len(dataset) >= batch_size,
    )


class PhotoDataModule(L.LightningDataModule):
    """Shuffled training batches from a photo folder (random crops) or a photo cache.

    seed: the run's data seed (`run_seed`): it orders the batches, and with the process's rank
    it seeds the crops (torch's global RNG: PhotoFolder crops in this process, photo-cache
    crops on the device), so DDP processes crop independently.
    """

    def __init__(self, data: str, image_size: int, batch_size: int, num_workers: int,
                 max_pixels: int, seed: int = 0) -> None:
        super().__init__()
        self.dataset = open_dataset(data, image_size, max_pixels)
        if len(self.dataset) < batch_size:
            # make_loader keeps the short batch (drop_last would leave none), so each step is
            # one epoch of len(dataset) photos: slower, and not the batch the recipe assumes.
            warnings.warn(f"--data {data} has {len(self.dataset)} photos, fewer than "
                          f"--batch-size {batch_size}: every step is a short batch of "
                          f"{len(self.dataset)} and a new epoch; give more photos",
                          RuntimeWarning, stacklevel=2)
        self.batch_size = batch_size
        self.num_workers = num_workers
        self.seed = seed

    def setup(self, stage: str) -> None:
        rank = self.trainer.global_rank if self.trainer is not None else 0
        torch.manual_seed(mix_seed(self.seed, rank))  # seeds the CPU and every CUDA device

    def train_dataloader(self) -> DataLoader:
        return make_loader(self.dataset, self.batch_size, self.num_workers, seed=self.seed)
