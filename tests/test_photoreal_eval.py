"""fastnst.photoreal.metrics and .report, fastnst-eval photoreal: the metrics on known answers and
the table over a small generated pairs folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastnst.cli.eval import main as eval_main
from fastnst.core.filters import box_mean
from fastnst.core.images import load_tensor, to_pil
from fastnst.evaluation.metrics import METRIC_STYLE_LAYERS, QualityMetric
from fastnst.photoreal import report
from fastnst.photoreal.metrics import (
    PhotorealMetric,
    StyleTarget,
    gradient_magnitude,
    ssim,
    structure_similarity,
)
from fastnst.photoreal.report import find_pairs, pair_key
from tests.conftest import ASSETS, CONTENT, STYLE

BLUE, GREEN = (0, 0, 255), (0, 255, 0)


@pytest.fixture(autouse=True)
def _single_thread(one_thread) -> None:
    """Small tensors: one thread is faster, and far faster on a busy machine."""


@pytest.fixture(scope="module")
def metric() -> PhotorealMetric:
    return PhotorealMetric("cpu")


def two_textures(size: int = 64) -> torch.Tensor:
    """(1, 3, size, size): the top half one photo's texture, the bottom half a painting's."""
    photo = load_tensor(CONTENT, 10**8, size)[..., :size // 2, :size]
    painting = load_tensor(STYLE, 10**8, size)[..., :size // 2, :size]
    return torch.cat([photo, painting], dim=2)


def halves_masks(size: int = 64) -> torch.Tensor:
    """(2, size, size): region 0 the top half, region 1 the bottom half."""
    masks = torch.zeros(2, size, size)
    masks[0, :size // 2] = 1
    masks[1, size // 2:] = 1
    return masks


def test_identical_images_score_zero_style_error_and_full_structure(metric):
    image = two_textures()
    masks = halves_masks()
    errors = metric(image, image, metric.style_target(image, masks), masks, ["blue", "green"])[0]
    assert errors.style == pytest.approx(0.0, abs=1e-6)
    assert errors.masked_style == pytest.approx(0.0, abs=1e-6)
    assert errors.regions == pytest.approx({"blue": 0.0, "green": 0.0}, abs=1e-6)
    assert errors.structure == pytest.approx(1.0, abs=1e-6)


def test_global_style_error_is_quality_metrics(metric):
    style = load_tensor(STYLE, 10**8, 64)
    output = load_tensor(CONTENT, 10**8, 64)
    ours = metric(output, output, metric.style_target(style))[0]
    theirs = QualityMetric(style)(output, output)[0]
    assert ours.style == pytest.approx(theirs.style, rel=1e-5)
    assert ours.masked_style is None and ours.regions == {}
    # One region covering both images is the global error.
    whole_style = torch.ones(1, *style.shape[-2:])
    whole_output = torch.ones(1, *output.shape[-2:])
    masked = metric(output, output, metric.style_target(style, whole_style), whole_output,
                    ["white"])[0]
    assert masked.masked_style == pytest.approx(theirs.style, rel=1e-4)


def test_masked_error_sees_swapped_regions_that_the_global_one_misses(metric):
    """The output holds the style's two textures in the wrong regions: the Grams of the whole
    image barely change (a Gram ignores where things are), the per-region ones do."""
    style = two_textures()
    swapped = torch.cat([style[..., 32:, :], style[..., :32, :]], dim=2)
    masks = halves_masks()
    target = metric.style_target(style, masks)
    right = metric(style, style, target, masks, ["blue", "green"])[0]
    wrong = metric(swapped, style, target, masks, ["blue", "green"])[0]
    # Measured at 64 px: 0.19 globally (the seam between the halves changes a little) and
    # 0.83 inside the regions.
    assert wrong.style < 0.3
    assert wrong.masked_style > 3 * wrong.style
    assert wrong.masked_style > 0.5 > right.masked_style


def test_region_errors_use_only_the_regions_pixels():
    """At the features the Grams see, values outside a region's mask do not count."""
    generator = torch.Generator().manual_seed(0)
    sizes = {layer: 32 >> i for i, layer in enumerate(METRIC_STYLE_LAYERS)}  # 32 .. 2 px
    features = {layer: torch.rand(1, 4, size, size, generator=generator)
                for layer, size in sizes.items()}
    masks = torch.zeros(2, 32, 32)
    masks[0, :, :16] = 1  # region 0: the left half
    masks[1, :, 16:] = 1
    target = StyleTarget({}, {layer: torch.rand(2, 4, 4, generator=generator)
                              for layer in METRIC_STYLE_LAYERS})
    before = PhotorealMetric.region_errors(features, masks, target)
    changed = {layer: value.clone() for layer, value in features.items()}
    for layer, value in changed.items():
        value[..., sizes[layer] // 2:] += 5.0  # only the right half (region 1) changes
    after = PhotorealMetric.region_errors(changed, masks, target)
    assert after[0, 0].item() == pytest.approx(before[0, 0].item(), rel=1e-6)
    assert after[0, 1].item() > 2 * before[0, 1].item()


def test_structure_is_lower_for_blurred_and_textured_outputs():
    content = load_tensor(CONTENT, 10**8, 96)
    assert structure_similarity(content, content).item() == pytest.approx(1.0, abs=1e-6)
    slightly, strongly = box_mean(content, 1), box_mean(content, 3)
    kept = [structure_similarity(x, content).item() for x in (slightly, strongly)]
    assert 1.0 > kept[0] > kept[1]  # measured 0.84 and 0.48
    assert kept[1] < 0.6
    # A global colour change (a recolouring) keeps the edges; noise in flat parts does not.
    recoloured = content.flip(1)
    noisy = (content + 0.1 * torch.randn(content.shape, generator=torch.Generator()
                                         .manual_seed(1))).clamp(0, 1)
    assert structure_similarity(recoloured, content).item() > 0.95  # measured 0.98
    assert structure_similarity(noisy, content).item() < 0.8  # measured 0.71


def test_gradient_magnitude_and_ssim_known_values():
    ramp = torch.linspace(0, 1, 21).view(1, 1, 1, 21).expand(1, 3, 15, 21)  # 0.05 per pixel
    magnitude = gradient_magnitude(ramp)
    assert magnitude.shape == (1, 1, 15, 21)
    assert magnitude[..., 1:-1].flatten().tolist() == pytest.approx([0.05] * 15 * 19, abs=1e-6)
    flat = torch.full((1, 1, 15, 15), 0.2)
    assert ssim(flat, flat).item() == pytest.approx(1.0)
    # Constant maps a and b: SSIM is the luminance term (2ab + C1) / (a^2 + b^2 + C1).
    c1 = (0.01 * 1.0) ** 2
    assert ssim(flat, torch.full_like(flat, 0.4)).item() == pytest.approx(
        (2 * 0.2 * 0.4 + c1) / (0.2 ** 2 + 0.4 ** 2 + c1), rel=1e-5)


def test_pair_keys_follow_luan_et_al_names():
    assert [pair_key(Path(p)) for p in ("in14.jpg", "tar14.png", "best14.jpg", "x.png")] == \
        ["14", "14", "14", "x"]


def write_mask(path: Path, size: int, top: tuple[int, int, int], bottom: tuple[int, int, int]
               ) -> None:
    image = Image.new("RGB", (size, size), top)
    image.paste(bottom, (0, size // 2, size, size))
    image.save(path)


@pytest.fixture
def pairs_folder(tmp_path: Path) -> Path:
    """Two pairs (1 and 2) with masks; methods: luan (both pairs), ours (pair 1, timed)."""
    folder = tmp_path / "pairs"
    for name in ("input", "style", "seg", "luan", "ours"):
        (folder / name).mkdir(parents=True)
    photos = sorted((ASSETS / "photos").glob("*.jpg"))
    style = two_textures()
    for key, source in zip((1, 2), photos, strict=False):
        content = load_tensor(source, 10**8, 64)[..., :48, :48]
        to_pil(content).resize((64, 64)).save(folder / "input" / f"in{key}.png")
        to_pil(style).save(folder / "style" / f"tar{key}.png")
        write_mask(folder / "seg" / f"in{key}.png", 64, BLUE, GREEN)
        write_mask(folder / "seg" / f"tar{key}.png", 64, BLUE, GREEN)
        # "luan": the content blurred (kept colours, lost edges)
        blurred = box_mean(load_tensor(folder / "input" / f"in{key}.png", 10**8), 2)
        to_pil(blurred).save(folder / "luan" / f"best{key}.jpg")
    # "ours": the content itself (sharpest possible), pair 1 only, with its seconds
    Image.open(folder / "input" / "in1.png").save(folder / "ours" / "in1.png")
    (folder / "ours" / "seconds.json").write_text(json.dumps({"in1": 12.5}))
    return folder


def test_find_pairs_matches_numbers_and_masks(pairs_folder):
    pairs = find_pairs(pairs_folder)
    assert [p.key for p in pairs] == ["1", "2"]
    assert pairs[0].content.name == "in1.png" and pairs[0].style.name == "tar1.png"
    assert pairs[0].content_mask.name == "in1.png" and pairs[0].style_mask.name == "tar1.png"


@pytest.fixture
def shared_metric(metric, monkeypatch) -> None:
    """fastnst-eval photoreal runs with the module's metric (one VGG load for the file)."""
    monkeypatch.setattr(report, "PhotorealMetric", lambda device: metric)


def test_eval_cli_photoreal_table_and_json(pairs_folder, tmp_path, capsys, shared_metric):
    report_path = tmp_path / "photoreal.json"
    assert eval_main(["photoreal", str(pairs_folder), "--device", "cpu",
                      "-o", str(report_path)]) == 0
    out = capsys.readouterr().out
    report = json.loads(report_path.read_text())
    assert report["methods"] == ["photo", "luan", "ours"]
    assert report["reference"] == "luan"
    rows = {(row["pair"], row["method"]): row for row in report["rows"]}
    assert set(rows) == {("1", "photo"), ("1", "luan"), ("1", "ours"), ("2", "photo"),
                         ("2", "luan")}
    assert rows["1", "ours"]["seconds"] == 12.5 and rows["1", "luan"]["seconds"] is None
    assert set(rows["1", "ours"]["regions"]) == {"blue", "green"}
    # ours is the content: as sharp as the photo, sharper than the blurred "luan" result.
    assert rows["1", "ours"]["structure"] == pytest.approx(1.0, abs=1e-6)
    assert rows["1", "luan"]["structure"] < 0.9
    ours = report["summary"]["ours"]
    assert ours["pairs"] == 1 and ours["seconds"] == 12.5
    assert ours["vs_reference"] == {"pairs": 1, "masked_style_at_most": int(
        rows["1", "ours"]["masked_style_error"] <= rows["1", "luan"]["masked_style_error"]),
        "structure_at_least": 1}
    assert "| 1 | ours |" in out and "| luan |" in out and "1/1 as sharp" in out


def test_eval_cli_photoreal_explicit_outputs_and_errors(pairs_folder, tmp_path, capsys,
                                                         shared_metric):
    assert eval_main(["photoreal", str(pairs_folder), "--outputs", "ours",
                      "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    assert "| 1 | ours |" in out and "luan" not in out  # no reference among the methods
    assert eval_main(["photoreal", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no input/ folder" in err
    assert eval_main(["photoreal", str(pairs_folder), "--outputs", "missing"]) == 2
    assert "--outputs missing: no such folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as usage:  # one mode a command: a usage mistake
        eval_main(["photoreal", str(pairs_folder), "--video", "clip.mp4"])
    assert usage.value.code == 2
    assert "unrecognized arguments: --video" in capsys.readouterr().err
