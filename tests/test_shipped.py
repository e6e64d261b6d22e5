"""The shipped styles in fastnst/checkpoints/ (package data): listed with their hashes, small,
and really stylizing."""

from __future__ import annotations

import hashlib
import json

import pytest
import torch

from fastnst.core.assets import SHIPPED_MODELS_DIR
from fastnst.core.images import load_tensor
from fastnst.evaluation.metrics import QualityMetric
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import load_model
from tests.conftest import ASSETS, CONTENT

# Where load_model("starry_night") finds it: inside the package, wherever it is installed.
SHIPPED = SHIPPED_MODELS_DIR
MANIFEST = json.loads((SHIPPED / "manifest.json").read_text())
OTHER_CONTENT = ASSETS / "content" / "flowers.jpg"
MAX_BYTES = 7 * 1024 * 1024  # issue #4: at most 7 MB per style


def test_manifest_lists_exactly_the_shipped_files() -> None:
    assert sorted(MANIFEST) == sorted(path.stem for path in SHIPPED.glob("*.ckpt"))
    assert "starry_night" in MANIFEST  # the README's first command uses it


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_shipped_model_matches_manifest_and_stylizes(name: str) -> None:
    path = SHIPPED / f"{name}.ckpt"
    data = path.read_bytes()
    assert len(data) <= MAX_BYTES
    assert hashlib.sha256(data).hexdigest() == MANIFEST[name]["sha256"]
    net, meta = load_model(name)  # by bare name, as users call it
    assert meta["style"] == name

    # A real style model moves a photo towards its style: lower style error than the photo.
    style = load_tensor(ASSETS / "styles" / f"{name}.jpg", 10**8, 512)
    photo = load_tensor(CONTENT, 10**8, 256)
    stylized = Stylizer(net, device="cpu").stylize_tensor(photo)
    metric = QualityMetric(style)
    before, after = metric(photo, photo)[0], metric(stylized, photo)[0]
    assert after.style < 0.7 * before.style, (before, after)
    # Still the same photo underneath: closer in content to it than to another photo.
    other = torch.nn.functional.interpolate(load_tensor(OTHER_CONTENT, 10**8, 256),
                                            size=photo.shape[-2:], mode="bilinear")
    assert after.content < 0.8 * metric(stylized, other)[0].content
