"""The photo cache: a photo folder decoded once (`fastnst-prepare-data`) into a memory-mapped
uint8 array, so training reads bytes instead of decoding JPEGs.

Cache batches hold {"images": (N, C, C, 3) uint8 RGB, "skipped": 0} with C a little larger
than the crop size S: the LightningModule crops and flips them on the training device
(`random_crop_flip`), so the data loader only copies bytes.

Layout (a folder): `images.u8`, the raw uint8 array (N, C, C, 3) in C order, and
`index.json` with its shape, the crop size it was made for and the source files.
"""

from __future__ import annotations

import contextlib
import json
import math
import multiprocessing
import os
import secrets
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from fastnst.core.errors import FastNSTError
from fastnst.core.images import list_images, open_image
from fastnst.training.photos import resize_and_crop

CACHE_FORMAT = "fastnst.photo-cache"
CACHE_FORMAT_VERSION = 1
CACHE_INDEX = "index.json"
CACHE_ARRAY = "images.u8"
# The cache keeps an eighth of the crop size as play on each axis (288 px for 256 px crops),
# so random crops still shift the content; 82,783 COCO photos take 20.6 GB at 288 px.
CACHE_MARGIN = 0.125


def cache_side(image_size: int) -> int:
    """Side in px of the cached squares for `image_size` crops (288 for 256)."""
    return image_size + math.ceil(image_size * CACHE_MARGIN)


def is_cache(path: str | Path) -> bool:
    """True when `path` is a folder written by `prepare_cache`."""
    return (Path(path) / CACHE_INDEX).is_file()


def _decode_square(job: tuple[Path, int, int]) -> bytes | None:
    """(path, side px, max_pixels) -> side x side RGB centre crop, raw bytes; None if unreadable."""
    path, side, max_pixels = job
    try:
        image = open_image(path, max_pixels)
    except FastNSTError:
        return None
    return np.asarray(resize_and_crop(image, side, None), dtype=np.uint8).tobytes()


def prepare_cache(sources: Sequence[str | Path], output: str | Path, image_size: int,
                  max_pixels: int, workers: int = 0, progress: bool = True) -> dict[str, Any]:
    """Decode every photo under `sources` once into a photo cache folder at `output`.

    Each photo's short side is scaled to `cache_side(image_size)` px and the centre square
    kept, as uint8 RGB. Unreadable files are skipped and listed in the index. The folder is
    written under a temporary name and renamed when complete. workers: decoding processes
    (0: in this process). Returns the index (also written to output/index.json).
    """
    output = Path(output)
    if output.exists():
        raise FastNSTError(f"-o {output} already exists; remove it or choose another path")
    if not output.parent.is_dir():
        raise FastNSTError(f"output folder's parent does not exist: {output.parent}")
    paths = list_images(sources)
    side = cache_side(image_size)
    staging = output.parent / f".{output.name}.{secrets.token_hex(4)}.tmp"
    staging.mkdir()  # unlike tempfile.mkdtemp, with the umask's permissions
    kept: list[str] = []
    skipped: list[str] = []
    try:
        jobs = [(path, side, max_pixels) for path in paths]
        with contextlib.ExitStack() as stack:
            if workers > 0:  # the pool's exit terminates its processes, on errors too
                pool = stack.enter_context(multiprocessing.Pool(workers))
                decoded = pool.imap(_decode_square, jobs, chunksize=16)
            else:
                decoded = map(_decode_square, jobs)
            array_file = stack.enter_context(open(staging / CACHE_ARRAY, "wb"))
            results = zip(paths, decoded, strict=True)
            for path, data in tqdm(results, total=len(paths), unit="img", desc="decoding",
                                   disable=not progress):
                if data is None:
                    skipped.append(str(path))
                    continue
                array_file.write(data)
                kept.append(str(path))
        if not kept:
            raise FastNSTError(f"no readable images in {', '.join(map(str, sources))}")
        index = {
            "format": CACHE_FORMAT,
            "format_version": CACHE_FORMAT_VERSION,
            "shape": [len(kept), side, side, 3],  # (N, H, W, RGB)
            "dtype": "uint8",
            "image_size": image_size,
            "sources": [str(source) for source in sources],
            "files": kept,
            "skipped_files": skipped,
        }
        (staging / CACHE_INDEX).write_text(json.dumps(index, indent=1))
        os.replace(staging, output)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return index


def read_cache_index(root: str | Path) -> dict[str, Any]:
    """The index of a photo cache; FastNSTError if it is missing, foreign or incomplete."""
    path = Path(root) / CACHE_INDEX
    try:
        index = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise FastNSTError(f"{path}: not a photo cache index ({err})") from None
    if not isinstance(index, dict) or index.get("format") != CACHE_FORMAT:
        raise FastNSTError(f"{path}: not a fastnst photo cache")
    if index.get("format_version", 0) > CACHE_FORMAT_VERSION:
        raise FastNSTError(f"{path}: made by a newer fastnst; upgrade or re-run "
                           "fastnst-prepare-data")
    array = Path(root) / CACHE_ARRAY
    expected = math.prod(index["shape"])
    actual = array.stat().st_size if array.is_file() else 0
    if actual != expected:
        raise FastNSTError(f"{array}: {actual} bytes, but the index says {expected}; "
                           "re-run fastnst-prepare-data")
    return index


class PhotoCache(Dataset):
    """A photo cache (see `prepare_cache`) read through a memory map: no decoding at all.

    Items are (C, C, 3) uint8 tensors; a batch of indices is read with one gather
    (`__getitems__`). The map is opened lazily in each process, so the dataset pickles small
    for data-loader workers.
    """

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.index = read_cache_index(self.root)
        self.shape = tuple(self.index["shape"])
        self.image_size = int(self.index["image_size"])
        self.skipped = len(self.index["skipped_files"])
        self._array: np.memmap | None = None

    @property
    def array(self) -> np.memmap:
        """The (N, C, C, 3) uint8 memory map, opened on first use."""
        if self._array is None:
            self._array = np.memmap(self.root / CACHE_ARRAY, dtype=np.uint8, mode="r",
                                    shape=self.shape)
        return self._array

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_array": None}

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.from_numpy(np.array(self.array[index]))

    def __getitems__(self, indices: list[int]) -> dict[str, Any]:
        """A whole batch: {"images": (len(indices), C, C, 3) uint8, "skipped": 0}."""
        # Sorted reads are sequential on disk; the sampler already shuffled the batch's members.
        images = self.array[np.sort(np.asarray(indices))]  # fancy indexing copies
        return {"images": torch.from_numpy(images), "skipped": 0}


def collate_cache(batch: dict[str, Any]) -> dict[str, Any]:
    """PhotoCache.__getitems__ already built the batch."""
    return batch


def random_crop_flip(images: torch.Tensor, size: int) -> torch.Tensor:
    """Cache batch (N, C, C, 3) uint8 -> (N, 3, size, size) float RGB in [0, 1].

    Each image gets its own random size x size crop and, with probability 1/2, a horizontal
    flip; one gather on the images' device (the GPU in training). The result is a
    channels_last view of NHWC memory; call `.contiguous()` for NCHW.
    """
    n, height, width, _ = images.shape
    if height < size or width < size:
        raise FastNSTError(f"cached images are {width}x{height} px, smaller than the "
                           f"{size} px crop; re-run fastnst-prepare-data --image-size {size}")
    batch, rows, cols = _crop_indices(n, height, width, size, images.device, flip=True)
    crops = images[batch, rows, cols]  # (N, size, size, 3)
    return crops.permute(0, 3, 1, 2).float().div_(255.0)  # (N, 3, size, size)


def random_crops(images: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, C, size, size): a random crop of each image (its own place), no
    flip; the small crops of the --small-crop curriculum, cut on the training device."""
    n, _, height, width = images.shape
    batch, rows, cols = _crop_indices(n, height, width, size, images.device, flip=False)
    return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)


def _crop_indices(n: int, height: int, width: int, size: int, device: torch.device,
                  flip: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Advanced-indexing triplet (batch (N,1,1), rows (N,size,1), cols (N,1,size)) for one
    random size x size crop per image, mirrored left-right with probability 1/2 if `flip`."""
    top = torch.randint(0, height - size + 1, (n, 1), device=device)
    left = torch.randint(0, width - size + 1, (n, 1), device=device)
    steps = torch.arange(size, device=device)
    mirrored = (torch.rand(n, 1, device=device) < 0.5) if flip else torch.zeros(
        n, 1, dtype=torch.bool, device=device)
    rows = top + steps  # (N, size)
    cols = left + torch.where(mirrored, size - 1 - steps, steps)  # (N, size)
    batch = torch.arange(n, device=device)[:, None, None]
    return batch, rows[:, :, None], cols[:, None, :]
