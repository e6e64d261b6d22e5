"""Training photos from a folder searched recursively (COCO's layout works as is).

Batches are dicts {"images": (N, 3, S, S) float RGB in [0, 1], "skipped": int}, where
"skipped" counts the unreadable files met while reading that batch. Training never crashes on
them, and a batch is never short: an unreadable file is replaced by a readable one, so every
process of a multi-GPU (DDP) run takes the same step.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import torch
from PIL import Image
from torch.utils.data import Dataset

from fastnst.core.errors import FastNSTError
from fastnst.core.images import list_images, open_image, to_tensor


def resize_and_crop(image: Image.Image, size: int, rng: random.Random | None) -> Image.Image:
    """Scale the short side to `size` px, then crop a size x size square.

    rng None gives the centre crop (validation); otherwise a random crop (training).
    """
    scale = size / min(image.size)
    new_size = (max(size, round(image.width * scale)), max(size, round(image.height * scale)))
    image = image.resize(new_size, Image.Resampling.BILINEAR, reducing_gap=3.0)
    spare_x, spare_y = image.width - size, image.height - size
    if rng is None:
        left, top = spare_x // 2, spare_y // 2
    else:
        left, top = rng.randint(0, spare_x), rng.randint(0, spare_y)
    return image.crop((left, top, left + size, top + size))


class PhotoFolder(Dataset):
    """Image files under a folder, each read as a (3, size, size) crop in [0, 1].

    Items are (crop, unreadable files tried before it): an unreadable file is replaced by the
    first readable file after a random position, so batches keep their size (a DDP process
    whose whole batch was unreadable would otherwise skip a step the others wait in).
    """

    def __init__(self, root: str | Path, size: int, max_pixels: int, train: bool = True) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FastNSTError(f"--data must be a folder of photos; no folder {self.root}")
        self.paths = list_images([self.root])
        self.size = size
        self.max_pixels = max_pixels
        self.train = train

    def __len__(self) -> int:
        return len(self.paths)

    def _read(self, index: int) -> Image.Image | None:
        try:
            return open_image(self.paths[index], self.max_pixels)
        except FastNSTError:
            return None

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        """(crop (3, size, size) in [0, 1], number of unreadable files tried first).

        Crops and substitutes draw from torch's global RNG (seeded per process and per
        data-loader worker by the training run).
        """
        # One draw per item whatever happens next, so a bad file does not shift later crops.
        rng = random.Random(torch.randint(0, 2**31, ()).item()) if self.train else None
        image = self._read(index)
        skipped = 0
        if image is None:  # the first readable file from a random position stands in
            count = len(self.paths)
            start = rng.randrange(count) if rng is not None else index + 1
            skipped = 1
            for offset in range(count):
                image = self._read((start + offset) % count)
                if image is not None:
                    break
                skipped += 1
            if image is None:
                raise FastNSTError(f"no readable images in {self.root}")
        return to_tensor(resize_and_crop(image, self.size, rng)), skipped


def collate_photos(items: list[tuple[torch.Tensor, int]]) -> dict[str, Any]:
    """PhotoFolder items -> {"images": (N, 3, S, S), "skipped": unreadable files met}."""
    return {
        "images": torch.stack([crop for crop, _ in items]),
        "skipped": sum(skipped for _, skipped in items),
    }


def load_samples(paths: list[str | Path], size: int, count: int, max_pixels: int
                 ) -> torch.Tensor:
    """The fixed validation images: the first `count` readable images, centre-cropped.

    Returns (count', 3, size, size) in [0, 1], count' <= count.
    """
    crops = []
    for path in list_images(paths):
        if len(crops) == count:
            break
        try:
            crops.append(to_tensor(resize_and_crop(open_image(path, max_pixels), size, None)))
        except FastNSTError:
            continue
    if not crops:
        raise FastNSTError(f"no readable validation images in {', '.join(map(str, paths))}")
    return torch.stack(crops)
