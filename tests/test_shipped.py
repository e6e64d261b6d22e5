"""The shipped styles in checkpoints/ (installed as fastnst.checkpoints): listed with their
hashes, small, found by bare name, really stylizing, and unchanged against committed reference
outputs."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import pytest
import torch
from PIL import Image

from fastnst.core.assets import SHIPPED_MODELS_DIR
from fastnst.core.images import load_tensor, to_tensor
from fastnst.evaluation.metrics import QualityMetric
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import file_sha256, load_model, resolve_spec
from tests.conftest import ASSETS, CONTENT

# Where load_model("starry_night") finds it: inside the package, wherever it is installed.
SHIPPED = SHIPPED_MODELS_DIR
MANIFEST = json.loads((SHIPPED / "manifest.json").read_text())
OTHER_CONTENT = ASSETS / "content" / "flowers.jpg"
REFERENCES = Path(__file__).resolve().parent / "fixtures" / "shipped"
MAX_BYTES = 7 * 1024 * 1024  # issue 17: at most 7 MB per file
EIGHT = ("starry_night", "la_muse", "composition_vii", "wave", "candy", "mosaic", "the_scream",
         "udnie")
# {style name: model file stem} over every shipped file, as bare names resolve: a file named
# after the style first (`starry_night` is starry_night.ckpt, the GPU-trained one), else the
# first multi-style file by name that has it (`candy` is paintings:candy, not
# paintings_w05:candy).
STYLES = {style: name for name, entry in sorted(MANIFEST.items(), reverse=True)
          for style in entry.get("styles", ())}
STYLES.update({name: name for name, entry in MANIFEST.items() if "styles" not in entry})
# Every style of every file, as NAME:STYLE for multi-style files; ordered by style, so the
# files sharing a style run side by side and share its metric (style_metric).
SPECS = sorted({*(f"{name}:{style}" for name, entry in MANIFEST.items()
                  for style in entry.get("styles", ())),
                *(name for name, entry in MANIFEST.items() if "styles" not in entry)},
               key=lambda spec: (spec.rpartition(":")[2], spec))


@functools.lru_cache(maxsize=1)
def style_metric(bundled: Path) -> QualityMetric:
    """The fixed metric for one style image (5 s on 2 cores: the VGG and the style's Grams),
    built once for every shipped file of that style."""
    return QualityMetric(load_tensor(bundled, 10**8, 512))


def test_manifest_lists_exactly_the_shipped_files() -> None:
    assert sorted(MANIFEST) == sorted(path.stem for path in SHIPPED.glob("*.ckpt"))
    assert set(EIGHT) <= set(STYLES)  # issue 17's eight styles, starry_night for the README


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shipped_file_matches_manifest(name: str) -> None:
    path = SHIPPED / MANIFEST[name]["file"]
    data = path.read_bytes()
    assert len(data) <= MAX_BYTES and len(data) == MANIFEST[name]["bytes"]
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]


def reference_photo() -> torch.Tensor:
    return to_tensor(Image.open(CONTENT).convert("RGB").resize((96, 64), Image.BILINEAR))[None]


@pytest.mark.parametrize("style", sorted(STYLES))
def test_bare_style_names_find_the_shipped_files(style: str) -> None:
    path, _ = resolve_spec(style)  # by bare name, as users call it
    assert path.parent == SHIPPED and path.stem == STYLES[style]


@pytest.mark.parametrize("spec", SPECS)
def test_shipped_style_stylizes_and_matches_its_reference(spec: str) -> None:
    style = spec.rpartition(":")[2]
    net, meta = load_model(spec)
    assert meta["style"] == style
    # The exact image it was trained on ships beside it (fastnst-eval finds it by hash).
    bundled = next((ASSETS / "styles").glob(f"{style}.*"))
    assert file_sha256(bundled) == meta["style_sha256"]

    # A real style model moves a photo towards its style: lower style error than the photo.
    metric = style_metric(bundled)
    photo = load_tensor(CONTENT, 10**8, 256)
    stylized = Stylizer(net, device="cpu").stylize_tensor(photo)
    before, after = metric(photo, photo)[0], metric(stylized, photo)[0]
    assert after.style < 0.7 * before.style, (before, after)
    # Still the same photo underneath: clearly closer in content to it than to another photo
    # (a net that ignored its photo would score about 1 here; paintings' mosaic and
    # starry_night, which repaint the most, score 0.86 and 0.84, the others lower).
    other = torch.nn.functional.interpolate(load_tensor(OTHER_CONTENT, 10**8, 256),
                                            size=photo.shape[-2:], mode="bilinear")
    assert after.content < 0.9 * metric(stylized, other)[0].content

    # The same output as when the model shipped (tests/fixtures/shipped/SPEC.png, NAME:STYLE
    # as NAME-STYLE.png, written by tests/fixtures/make_shipped_references.py), to float and
    # 8-bit rounding.
    small = Stylizer(net, device="cpu").stylize_tensor(reference_photo())
    reference = to_tensor(Image.open(REFERENCES / f"{spec.replace(':', '-')}.png"))[None]
    assert (small - reference).abs().max() < 3 / 255
    assert (small - reference_photo()).abs().mean() > 0.05  # and it is not the photo
