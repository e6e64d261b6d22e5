"""Colour-coded region masks: robust reading, resizing, region checks, saving, auto masks."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter

from fastnst.core.errors import FastNSTError
from fastnst.photoreal.clusters import auto_masks, follow_edges, keep_shared, kmeans
from fastnst.photoreal.masks import (
    COLOURS,
    NAMES,
    match_regions,
    one_hot,
    read_mask,
    region_names,
    resize_labels,
    save_mask,
    snap_colours,
)
from fastnst.photoreal.upsample import affine_upsample

BLUE, WHITE, GREEN = NAMES.index("blue"), NAMES.index("white"), NAMES.index("green")


def painted(size: tuple[int, int], boxes: list[tuple[str, tuple[int, int, int, int]]],
            blur: float = 0.0) -> Image.Image:
    """A mask painted like Luan et al.'s: colour boxes, edges blurred (anti-aliased)."""
    image = Image.new("RGB", size, COLOURS["black"])
    for name, box in boxes:
        image.paste(COLOURS[name], box)
    return image.filter(ImageFilter.GaussianBlur(blur)) if blur else image


def labels_of(image: Image.Image, name: str = "mask") -> torch.Tensor:
    return snap_colours(torch.from_numpy(np.array(image)), name)


def test_anti_aliased_edges_snap_to_the_regions_either_side() -> None:
    # Blue above white, blurred: the edge pixels are blue-white blends, some near grey
    # (128, 128, 128) and light blue; neither may become a region.
    image = painted((40, 30), [("blue", (0, 0, 40, 15)), ("white", (0, 15, 40, 30))], blur=1.5)
    pixels = np.array(image)
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 5  # really blended
    labels = labels_of(image)
    assert region_names(labels) == ["blue", "white"]
    assert (labels[:13] == BLUE).all() and (labels[17:] == WHITE).all()
    # the blends at the edge go to the nearer colour: row 14 is still mostly blue
    assert (labels[14] == BLUE).all() and (labels[15] == WHITE).all()


def test_a_small_real_region_of_another_colour_is_kept() -> None:
    image = painted((60, 60), [("white", (0, 0, 60, 60)), ("red", (10, 10, 14, 14))])
    assert region_names(labels_of(image)) == ["white", "red"]


def test_unknown_colour_is_an_error_naming_file_and_colour() -> None:
    image = painted((40, 40), [("white", (0, 0, 40, 40))])
    image.paste((255, 128, 0), (5, 5, 25, 25))  # orange: none of the nine
    with pytest.raises(FastNSTError) as err:
        labels_of(image, "seg/in1.png")
    message = str(err.value)
    assert message.startswith("seg/in1.png: colour (255, 128, 0) / #ff8000 is not one of")
    assert "light blue" in message and "\n" not in message


def test_a_photo_is_not_a_mask(tmp_path: Path) -> None:
    noise = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    with pytest.raises(FastNSTError, match="is not one of the mask colours"):
        labels_of(Image.fromarray(noise))


def test_mask_of_another_size_is_resized_with_nearest_neighbour(tmp_path: Path) -> None:
    path = tmp_path / "mask.png"
    painted((20, 10), [("green", (0, 0, 10, 10)), ("white", (10, 0, 20, 10))]).save(path)
    with pytest.warns(UserWarning, match=r"mask.png is 20x10 px but photo.jpg is 40x30: the "
                      r"mask is resized with nearest neighbour"):
        labels = read_mask(path, (40, 30), 10**6, "photo.jpg")
    assert labels.shape == (30, 40)
    assert set(labels.unique().tolist()) == {GREEN, WHITE}  # no blends
    assert (labels[:, :20] == GREEN).all() and (labels[:, 20:] == WHITE).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_mask(path, (20, 10), 10**6).shape == (10, 20)  # same size: silent


def test_region_checks() -> None:
    content = torch.tensor([[BLUE, BLUE], [GREEN, WHITE]])
    style = torch.tensor([[BLUE, NAMES.index("red")], [GREEN, GREEN]])
    with pytest.warns(UserWarning, match="c.png: white not in s.png; that region takes the "
                      "style of the whole style image"):
        regions = match_regions(content, style, "c.png", "s.png")
    assert regions == [BLUE, GREEN, WHITE]  # red, style only, is ignored
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert match_regions(content[:1], style) == [BLUE]  # style-only regions: silent
    with pytest.raises(FastNSTError, match=r"c.png and s.png share no region colour \(content: "
                       r"white; style: blue, green, red\)"):
        match_regions(torch.full((2, 2), WHITE), style, "c.png", "s.png")


def test_one_hot_and_nearest_resize() -> None:
    labels = torch.tensor([[0, 3], [3, 3]])
    masks = one_hot(labels, [3, 0])
    assert masks.tolist() == [[[0, 1], [1, 1]], [[1, 0], [0, 0]]]
    assert resize_labels(labels, (4, 4)).tolist() == [[0, 0, 3, 3], [0, 0, 3, 3],
                                                      [3, 3, 3, 3], [3, 3, 3, 3]]


def test_saved_masks_read_back_identically(tmp_path: Path) -> None:
    labels = torch.randint(0, len(COLOURS), (12, 16), generator=torch.Generator().manual_seed(0))
    save_mask(labels, tmp_path / "m.png")
    assert Image.open(tmp_path / "m.png").mode == "RGB"
    # random labels have no solid 3x3 areas, so compare the colours pixel by pixel
    pixels = np.array(Image.open(tmp_path / "m.png"))
    palette = np.array(list(COLOURS.values()))
    assert (pixels == palette[labels.numpy()]).all()
    blocks = labels[::4, ::4].repeat_interleave(4, 0).repeat_interleave(4, 1)
    save_mask(blocks, tmp_path / "blocks.png")
    assert torch.equal(read_mask(tmp_path / "blocks.png", (16, 12), 10**6), blocks)


def test_kmeans_separates_clusters() -> None:
    generator = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(50, 2, generator=generator) * 0.1 + torch.tensor(centre)
                        for centre in ((0.0, 0.0), (5.0, 0.0), (0.0, 5.0))])
    centres = kmeans(points, 3, torch.Generator().manual_seed(1))
    labels = torch.cdist(points, centres).argmin(1)
    assert [len(set(labels[i:i + 50].tolist())) for i in (0, 50, 100)] == [1, 1, 1]
    assert len(set(labels.tolist())) == 3
    found = sorted(centres.round().tolist())
    assert found == [[0.0, 0.0], [0.0, 5.0], [5.0, 0.0]]


def test_clusters_missing_from_one_photo_are_merged_away() -> None:
    generator = torch.Generator().manual_seed(0)
    blob = lambda centre, n: torch.randn(n, 2, generator=generator) * 0.1 + torch.tensor(centre)  # noqa: E731
    content = torch.cat([blob((0.0, 0.0), 50), blob((5.0, 0.0), 50), blob((4.0, 4.0), 40)])
    style = torch.cat([blob((0.0, 0.0), 60), blob((5.0, 0.0), 59), blob((4.0, 4.0), 1)])
    centres = torch.tensor([[0.0, 0.0], [5.0, 0.0], [4.0, 4.0]])
    # the third cluster has 1/120 < 2 % of the style's points: dropped
    kept = keep_shared(centres, content, style)
    assert kept.tolist() == [[0.0, 0.0], [5.0, 0.0]]
    assert keep_shared(centres, content, style, min_share=0.005).shape == (3, 2)
    assert keep_shared(centres[:1], content, style).shape == (1, 2)


def test_auto_masks_match_alike_regions_of_the_two_photos(one_thread) -> None:
    from fastnst.lossnets import build_loss_network

    # Content: a smooth blue sky over a striped green field; style: an orange sky over a
    # striped dark field (another colour, the same kinds of places).
    def scene(sky: tuple[float, float, float], ground: tuple[float, float, float],
              width: int) -> torch.Tensor:
        image = torch.empty(1, 3, 64, width)
        image[:, :, :28] = torch.tensor(sky).view(1, 3, 1, 1)
        stripes = (torch.arange(width) // 3 % 2).float() * 0.3 + 0.7
        image[:, :, 28:] = torch.tensor(ground).view(1, 3, 1, 1) * stripes
        return image

    content = scene((0.5, 0.7, 1.0), (0.2, 0.7, 0.2), 80)
    style = scene((1.0, 0.6, 0.3), (0.3, 0.3, 0.2), 64)
    network = build_loss_network("vgg19", "caffe")
    content_labels, style_labels = auto_masks(content, style, network, 2, seed=0)
    assert content_labels.shape == (64, 80) and style_labels.shape == (64, 64)
    sky, ground = content_labels[5, 40].item(), content_labels[60, 40].item()
    assert sky != ground
    assert (content_labels[:20] == sky).float().mean() > 0.95
    assert (content_labels[36:] == ground).float().mean() > 0.95
    assert (style_labels[:20] == sky).float().mean() > 0.95
    assert (style_labels[36:] == ground).float().mean() > 0.95
    again = auto_masks(content, style, network, 2, seed=0)
    assert torch.equal(again[0], content_labels)  # seeded
    one = auto_masks(content, style, network, 1)
    assert one[0].unique().tolist() == [0] and one[1].shape == (64, 64)


def test_found_regions_end_on_the_photo_edges_not_on_the_feature_grid() -> None:
    # A red left part and a blue right part meeting at x = 27; the clusters' grid (8x8 over
    # the 64x64 photo) puts the boundary at x = 32.
    image = torch.empty(1, 3, 64, 64)
    image[:, :, :, :27] = torch.tensor([0.8, 0.2, 0.1]).view(1, 3, 1, 1)
    image[:, :, :, 27:] = torch.tensor([0.1, 0.3, 0.9]).view(1, 3, 1, 1)
    image += 0.02 * torch.rand(image.shape, generator=torch.Generator().manual_seed(0))
    coarse = torch.zeros(8, 8, dtype=torch.long)
    coarse[:, 4:] = 1
    labels = follow_edges(coarse, 2, image)
    assert labels.shape == (64, 64) and labels.dtype == torch.int64
    expected = (torch.arange(64) >= 27).long().expand(64, 64)
    assert torch.equal(labels, expected)


def test_affine_upsample_keeps_a_colour_grade_and_the_content_edges() -> None:
    generator = torch.Generator().manual_seed(0)
    large = torch.rand(1, 3, 64, 48, generator=generator)
    large[:, :, :, 24:] *= 0.3  # a sharp vertical edge
    small = torch.nn.functional.interpolate(large, size=(32, 24), mode="area")
    mix = torch.tensor([[0.6, 0.3, 0.0], [0.1, 0.5, 0.1], [0.0, 0.2, 0.4]])
    grade = lambda x: torch.einsum("cj,njhw->nchw", mix, x) + 0.2  # noqa: E731
    result = affine_upsample(grade(small), small, large)
    assert result.shape == (1, 3, 64, 48) and result.dtype == torch.float32
    error = (result - grade(large)).abs()
    # 99 % of pixels within 1/255 of the grade of the large photo (a few, where the noise's
    # window statistics differ at the two sizes, are off by up to ~0.1)
    assert error.mean() < 2e-3 and error.flatten().quantile(0.99) < 1 / 255
    bilinear = torch.nn.functional.interpolate(grade(small), size=(64, 48), mode="bilinear")
    assert (bilinear - grade(large)).abs().mean() > 50 * error.mean()
