"""Photorealistic style transfer: the masked style term, the coarse-to-fine optimisation and
`fastnst-photo` (tiny generated photos, a few CPU steps)."""

from __future__ import annotations

import dataclasses
import re
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastnst.cli.photo import main as photo_main
from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.images import load_tensor
from fastnst.losses.functional import gram_matrix
from fastnst.losses.masked import MaskedStyleTerm, masked_gram
from fastnst.losses.perceptual import StyleTerm
from fastnst.photoreal.masks import COLOURS, NAMES, read_mask
from fastnst.photoreal.photo_config import PhotoConfig, PhotoParams
from fastnst.photoreal.start import linear_map, region_colour_transfer
from fastnst.photoreal.transfer import (
    level_sizes,
    level_steps,
    photo_loss,
    stylize_photo,
    transfer_photo,
)
from tests.conftest import ASSETS


def features(seed: int, shape: tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


LAYERS = ("a", "b")


def stand_in(seed: int, size: int) -> dict[str, torch.Tensor]:
    """Features of a stand-in network: layer a at full size, b at half."""
    return {"a": features(seed, (1, 4, size, size)),
            "b": features(seed + 1, (1, 8, size // 2, size // 2))}


def test_masked_gram_of_a_half_mask() -> None:
    ones = torch.ones(1, 2, 4, 4)
    half = torch.zeros(4, 4)
    half[:, :2] = 1
    # (F M)(F M)^T / (C sum M): every entry 8 / (2 * 8)
    assert masked_gram(ones, half).tolist() == [[[0.5, 0.5], [0.5, 0.5]]]
    full = features(0, (2, 3, 5, 6))
    assert torch.allclose(masked_gram(full, torch.ones(5, 6)), gram_matrix(full))


def test_masked_gram_gradient_equals_the_plain_grams() -> None:
    """The masked copy is recomputed in the backward pass (to save memory at 1024 px): the
    gradient is still the plain Gram's for a mask of ones, and zero outside a mask."""
    target = features(1, (2, 3, 3))
    grads = []
    for gram in (gram_matrix, lambda f: masked_gram(f, torch.ones(5, 6))):
        x = features(0, (2, 3, 5, 6)).requires_grad_(True)
        (gram(x) - target).pow(2).sum().backward()
        grads.append(x.grad)
    assert grads[0].abs().sum() > 0 and torch.allclose(grads[0], grads[1], atol=1e-6)
    half = torch.zeros(5, 6)
    half[:, :3] = 1
    x = features(0, (2, 3, 5, 6)).requires_grad_(True)
    (masked_gram(x, half) - target).pow(2).sum().backward()
    assert x.grad[..., 3:].abs().max() == 0 and x.grad[..., :3].abs().sum() > 0


def test_one_region_covering_everything_is_the_plain_style_term() -> None:
    style, output = stand_in(0, 8), stand_in(10, 12)
    plain = StyleTerm(style, LAYERS, 1.0)
    masked = MaskedStyleTerm(style, torch.ones(1, 8, 8), torch.ones(1, 12, 12), LAYERS, 1.0)
    expected = plain(torch.empty(0), output, {}).item()
    assert masked(torch.empty(0), output, {}).item() == pytest.approx(expected, rel=1e-5)


def test_regions_have_their_own_grams_weighted_by_size() -> None:
    style, output = stand_in(0, 8), stand_in(10, 8)
    top = torch.zeros(8, 8)
    top[:2] = 1  # a quarter
    masks = torch.stack([top, 1 - top])
    term = MaskedStyleTerm(style, masks, masks, LAYERS, 1.0, layer_weights=(1.0, 0.0))
    grams = term.target_grams("a")
    assert torch.allclose(grams[0], masked_gram(style["a"], top)[0])
    assert torch.allclose(grams[1], masked_gram(style["a"], 1 - top)[0])
    errors = [torch.mean((masked_gram(output["a"], mask)[0] - gram) ** 2)
              for mask, gram in zip(masks, grams, strict=True)]
    expected = 0.25 * errors[0] + 0.75 * errors[1]
    assert term(torch.empty(0), output, {}).item() == pytest.approx(expected.item(), rel=1e-5)


def test_a_region_missing_in_the_style_uses_the_whole_styles_gram() -> None:
    style, output = stand_in(0, 8), stand_in(10, 8)
    content_masks = torch.stack([torch.ones(8, 8), torch.zeros(8, 8)])
    style_masks = torch.stack([torch.zeros(8, 8), torch.ones(8, 8)])
    term = MaskedStyleTerm(style, style_masks, content_masks, LAYERS, 1.0)
    assert torch.allclose(term.target_grams("b")[0], gram_matrix(style["b"])[0])
    # the content has only region 0, matched with the whole style: the plain style term
    plain = StyleTerm(style, LAYERS, 1.0)
    assert term(torch.empty(0), output, {}).item() == pytest.approx(
        plain(torch.empty(0), output, {}).item(), rel=1e-5)


def test_linear_colour_map_sends_one_covariance_onto_the_other() -> None:
    generator = torch.Generator().manual_seed(0)
    a, b = (torch.randn(3, 3, generator=generator, dtype=torch.float64) for _ in range(2))
    source, target = a @ a.T + 0.1 * torch.eye(3), b @ b.T + 0.1 * torch.eye(3)
    mapping = linear_map(source, target)
    assert torch.allclose(mapping @ source @ mapping.T, target, atol=1e-9)
    assert torch.allclose(mapping, mapping.T, atol=1e-9)  # the symmetric (MK) solution


def test_colour_transfer_gives_each_region_the_style_regions_colours() -> None:
    generator = torch.Generator().manual_seed(0)
    content = 0.5 + 0.05 * torch.randn(1, 3, 40, 40, generator=generator)
    style = torch.empty(1, 3, 30, 30)
    style[:, :, :15] = 0.3 + 0.02 * torch.randn(1, 3, 15, 30, generator=generator)
    style[:, :, 15:] = torch.tensor([0.7, 0.4, 0.2]).view(1, 3, 1, 1)
    style[:, 1, 15:] += 0.03 * torch.randn(15, 30, generator=generator)
    content_masks = torch.zeros(2, 40, 40)
    content_masks[0, :, :20], content_masks[1, :, 20:] = 1, 1
    style_masks = torch.zeros(2, 30, 30)
    style_masks[0, :15], style_masks[1, 15:] = 1, 1
    result = region_colour_transfer(content, style, content_masks, style_masks)
    assert result.shape == content.shape
    inner = {0: result[0, :, :, :15], 1: result[0, :, :, 25:]}  # away from the soft seam
    assert torch.allclose(inner[0].mean((1, 2)), torch.full((3,), 0.3), atol=0.01)
    assert torch.allclose(inner[1].mean((1, 2)), torch.tensor([0.7, 0.4, 0.2]), atol=0.01)
    # a flat style channel gives a nearly flat region (only the covariance floor's spread)
    assert inner[1][0].std() < 0.015 and inner[1][1].std() > 0.025


def test_level_sizes() -> None:
    assert level_sizes((256, 192), 3) == [(64, 48), (128, 96), (256, 192)]
    assert level_sizes((100, 70), 1) == [(100, 70)]
    assert level_sizes((64, 64), 3)[0] == (16, 16)
    with pytest.raises(FastNSTError, match=r"3 levels, so the coarsest is 15x12 px: under 16"):
        level_sizes((48, 60), 3)


def test_the_default_schedule_follows_the_working_size() -> None:
    # 512 px: three levels; 1024 px: five full-size steps more; beyond: enlarged, not optimised
    assert level_steps((384, 512), None) == (50, 30, 10)
    assert level_steps((683, 512), None) == (50, 30, 10)
    assert level_steps((768, 1024), None) == (50, 30, 10, 5)
    assert level_steps((1536, 2048), None) == (50, 30, 10, 5, 0)
    # small photos lose the coarsest levels rather than go under 16 px
    assert level_steps((60, 80), None) == (30, 10)
    assert level_steps((20, 30), None) == (10,)
    assert level_steps((768, 1024), (4, 2)) == (4, 2)  # given: as given, at any size


def test_config_defaults_and_mistakes() -> None:
    config = PhotoConfig(content="c.jpg", style="s.jpg", output="o.png")
    assert config.content_layers == ("conv4_2",)
    assert config.style_layers == ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
    squeeze = PhotoConfig(content="c", style="s", output="o.png", loss_net="squeezenet")
    assert squeeze.content_layers == ("fire2",)
    for bad, message in (({"content_mask": "m.png"}, "go together"),
                         ({"auto_masks": 10}, "1 to 9"),
                         ({"iterations": (0, 5)}, "first"),
                         ({"iterations": (5, -1)}, ">= 0")):
        with pytest.raises(FastNSTError, match=message):
            PhotoConfig(content="c", style="s", output="o.png", **bad)
    # the command's parameters are the algorithm's, which hold no path
    assert config.params == PhotoParams()
    assert not {"content", "style", "output", "content_mask", "style_mask", "save_masks",
                "device"} & {field.name for field in dataclasses.fields(PhotoParams)}


@pytest.fixture(scope="module")
def pair() -> tuple[torch.Tensor, torch.Tensor]:
    content = load_tensor(ASSETS / "content" / "chicago.jpg", 10**8, 64)
    style = load_tensor(ASSETS / "content" / "amber.jpg", 10**8, 64)
    return content, style


@pytest.fixture(scope="module")
def network() -> torch.nn.Module:
    from fastnst.lossnets import build_loss_network

    return build_loss_network("vgg19", "caffe")


def test_stylize_photo_moves_towards_the_style_and_stays_a_photo(pair, network,
                                                                 one_thread) -> None:
    content, style = pair
    content_masks = torch.ones(1, *content.shape[-2:])
    style_masks = torch.ones(1, *style.shape[-2:])
    results = {}
    for weight in (0.0, PhotoParams.affine_weight):
        params = PhotoParams(iterations=(4, 2), affine_weight=weight)
        image, terms = stylize_photo(content, style, content_masks, style_masks, network,
                                     params, progress=False)
        assert image.shape == content.shape and 0 <= image.min() and image.max() <= 1
        assert set(terms) == {"content", "style", "affine", "tv", "total"}
        results[weight] = image
    judge = photo_loss(network, PhotoParams(iterations=(4, 2)), style, content_masks,
                       style_masks)
    targets = judge.content_targets(content)
    before = judge(content, targets)
    after = {weight: judge(image, targets) for weight, image in results.items()}
    for terms in after.values():
        assert terms["style"] < 0.8 * before["style"]
    # the affine term keeps the result locally an affine function of the photo's colours
    assert after[PhotoParams.affine_weight]["affine"] < 0.5 * after[0.0]["affine"]


def test_a_library_user_transfers_tensors_with_parameters_alone(pair, tiny_loss_net,
                                                                one_thread) -> None:
    """No file, path or command config: two tensors, PhotoParams and (here) a stand-in loss
    network; the regions are found (auto_masks)."""
    content, style = pair
    result = transfer_photo(content, style, PhotoParams(iterations=(2, 0), auto_masks=2),
                            progress=False, network=tiny_loss_net)
    assert result.image.shape == content.shape
    assert 0 <= result.image.min() and result.image.max() <= 1
    assert not torch.equal(result.image, content)
    assert set(result.terms) == {"content", "style", "affine", "tv", "total"}
    assert result.content_labels.shape == content.shape[-2:]
    assert result.style_labels.shape == style.shape[-2:]
    # (43, 64) px in three levels: the coarsest is 11 px high
    with pytest.raises(ParameterError, match=r"^iterations gives 3 levels, so the coarsest is "
                       r"16x11 px: under 16 px; use fewer levels or a larger image$"):
        transfer_photo(content, style, PhotoParams(iterations=(1, 1, 1)), progress=False,
                       network=tiny_loss_net)


def paint(path: Path, size: tuple[int, int], top: str, bottom: str) -> Path:
    image = Image.new("RGB", size, COLOURS[top])
    image.paste(COLOURS[bottom], (0, size[1] // 2, size[0], size[1]))
    image.save(path)
    return path


@pytest.fixture
def photos(tmp_path: Path) -> dict[str, Path]:
    paths = {"content": tmp_path / "content.jpg", "style": tmp_path / "style.jpg"}
    Image.open(ASSETS / "content" / "chicago.jpg").resize((64, 48)).save(paths["content"])
    Image.open(ASSETS / "content" / "amber.jpg").resize((48, 64)).save(paths["style"])
    paths["content_mask"] = paint(tmp_path / "c.png", (64, 48), "blue", "black")
    paths["style_mask"] = paint(tmp_path / "s.png", (48, 64), "blue", "black")
    return paths


def run(photos: dict[str, Path], output: Path, *extra: str) -> int:
    return photo_main(["--content", str(photos["content"]), "--style", str(photos["style"]),
                       "-o", str(output), "--iterations", "2,0", "--device", "cpu", *extra])


def test_cli_with_masks_writes_the_image(photos, tmp_path: Path, capsys, one_thread) -> None:
    out = tmp_path / "out.png"
    assert run(photos, out, "--content-mask", str(photos["content_mask"]), "--style-mask",
               str(photos["style_mask"]), "--init", "content") == 0
    assert Image.open(out).size == (64, 48)
    assert "final loss: content" in capsys.readouterr().out
    assert not (tmp_path / "out-content-mask.png").exists()


def test_cli_auto_masks_are_saved_for_reuse(photos, tmp_path: Path, one_thread) -> None:
    out = tmp_path / "auto.jpg"
    # working at 32 px: the masks are still saved at the photos' own sizes
    assert run(photos, out, "--auto-masks", "2", "--save-masks", "--image-size", "32",
               "--style-size", "32", "--iterations", "2") == 0
    assert Image.open(out).size == (32, 24)
    content_mask, style_mask = tmp_path / "auto-content-mask.png", tmp_path / "auto-style-mask.png"
    assert Image.open(content_mask).size == (64, 48) and Image.open(style_mask).size == (48, 64)
    labels = read_mask(content_mask, (64, 48), 10**6)
    assert set(labels.unique().tolist()) <= {NAMES.index("blue"), NAMES.index("green")}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(photos, tmp_path / "again.png", "--content-mask", str(content_mask),
                   "--style-mask", str(style_mask)) == 0
    assert not [w for w in caught if "resized" in str(w.message)]


def test_cli_resizes_a_mask_of_another_size_and_says_so(photos, tmp_path: Path,
                                                        one_thread) -> None:
    small = paint(tmp_path / "small.png", (32, 24), "blue", "black")
    with pytest.warns(UserWarning, match="32x24 px but .*content.jpg is 64x48: the mask is "
                      "resized with nearest neighbour"):
        assert run(photos, tmp_path / "out.png", "--content-mask", str(small), "--style-mask",
                   str(photos["style_mask"])) == 0


def unknown_colour(tmp_path: Path) -> list[str]:
    path = tmp_path / "orange.png"
    Image.new("RGB", (64, 48), (255, 128, 0)).save(path)
    return ["--content-mask", str(path), "--style-mask", str(tmp_path / "s.png")]


@pytest.mark.parametrize(("case", "message"), [
    (unknown_colour, r"orange.png: colour \(255, 128, 0\) / #ff8000 is not one of the mask"),
    (lambda tmp: ["--content-mask", str(paint(tmp / "w.png", (64, 48), "white", "red")),
                  "--style-mask", str(tmp / "s.png")],
     r"w.png and .*s.png share no region colour \(content: white, red; style: blue, black\)"),
    (lambda tmp: ["--content-mask", str(tmp / "c.png")], "go together"),
    (lambda tmp: ["--affine-max-pixels", "500"],
     r"matting Laplacian of a 32x24 image \(768 pixels\).*the limit is 500 pixels"),
    (lambda tmp: ["--iterations", "2,2,2"], "coarsest is 16x12 px"),
])
def test_cli_bad_input_is_one_line_and_writes_nothing(photos, tmp_path: Path, capsys, case,
                                                      message: str) -> None:
    argv = ["--content", str(photos["content"]), "--style", str(photos["style"]),
            "-o", str(tmp_path / "out.png"), "--device", "cpu", "--save-masks", *case(tmp_path)]
    if "--iterations" not in argv:
        argv += ["--iterations", "2,0"]
    before = sorted(tmp_path.iterdir())
    assert photo_main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastnst-photo: error: ")
    assert re.search(message, err), err
    assert sorted(tmp_path.iterdir()) == before


def test_cli_smooth_is_the_closed_form_applied_to_the_result(photos, tmp_path: Path,
                                                            one_thread) -> None:
    import numpy as np

    from fastnst.inference.smoothing import smooth_image

    masks = ("--content-mask", str(photos["content_mask"]), "--style-mask",
             str(photos["style_mask"]))
    plain, smoothed = tmp_path / "plain.png", tmp_path / "smooth.png"
    assert run(photos, plain, *masks) == 0
    assert run(photos, smoothed, *masks, "--smooth", "--smooth-method", "matting") == 0
    expected = smooth_image(Image.open(plain), Image.open(photos["content"]).convert("RGB"),
                            "matting")
    got = np.asarray(Image.open(smoothed), dtype=np.int16)
    assert np.abs(got - np.asarray(expected, dtype=np.int16)).max() <= 1
    assert np.abs(got - np.asarray(Image.open(plain), dtype=np.int16)).mean() > 0.5


@pytest.mark.parametrize(("params", "flags", "problem"), [
    ({"iterations": (0, 5)}, ["--iterations", "0,5"],
     "{} needs at least 1 step at the first (coarsest) level"),
    ({"auto_masks": 10}, ["--auto-masks", "10"], "{} must be 1 to 9 (one colour a region)"),
])
def test_a_bad_parameter_reads_as_the_library_names_it_and_as_the_command_flags_it(
        photos, tmp_path: Path, capsys, params, flags, problem: str) -> None:
    """PhotoParams names the field (API and web users see that); fastnst-photo the flag."""
    (name,) = params
    with pytest.raises(ParameterError) as caught:
        PhotoParams(**params)
    assert str(caught.value) == problem.format(name)
    assert run(photos, tmp_path / "out.png", *flags) == 2
    assert capsys.readouterr().err == f"fastnst-photo: error: {problem.format(flags[0])}\n"
    assert not (tmp_path / "out.png").exists()


def test_bf16_loss_network_gives_the_float32_result(pair, network, one_thread) -> None:
    """--precision bf16 (auto on CPUs with AVX512-BF16 and on GPUs) changes the arithmetic of
    the loss network only: the same steps land on nearly the same image."""
    content, style = pair
    content_masks = torch.ones(1, *content.shape[-2:])
    style_masks = torch.ones(1, *style.shape[-2:])
    images = {precision: stylize_photo(content, style, content_masks, style_masks, network,
                                       PhotoParams(iterations=(4, 2), precision=precision),
                                       progress=False)[0]
              for precision in ("32", "bf16")}
    moved = (images["32"] - content).abs().mean()
    difference = (images["bf16"] - images["32"]).abs().mean()
    assert 0 < difference < 0.01 * moved  # measured: 1e-4 against a move of 0.1
