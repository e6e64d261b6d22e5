"""The Gatys baseline: optimizing pixels lowers the perceptual loss, with either optimizer."""

from __future__ import annotations

import pytest
import torch

from fastnst.core.images import load_tensor
from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.config import LossConfig
from fastnst.slow.gatys import stylize_slow
from tests.conftest import CONTENT, STYLE


@pytest.fixture(scope="module")
def loss_and_content() -> tuple[torch.nn.Module, torch.Tensor]:
    style = load_tensor(STYLE, 10**8, 48)
    content = load_tensor(CONTENT, 10**8, 40)
    return build_perceptual_loss(LossConfig(), style), content


@pytest.mark.parametrize(("optimizer", "lr"), [("lbfgs", 1.0), ("adam", 0.05)])
def test_optimizing_pixels_lowers_the_loss(loss_and_content, optimizer: str, lr: float) -> None:
    loss_fn, content = loss_and_content
    start = loss_fn(content, loss_fn.content_targets(content)).total.item()
    image, terms = stylize_slow(content, loss_fn, optimizer, iterations=12, lr=lr,
                                progress=False)
    final = loss_fn(image, loss_fn.content_targets(content)).total.item()
    assert image.shape == content.shape
    assert 0.0 <= image.min() and image.max() <= 1.0
    assert final < 0.7 * start, (start, final)
    assert set(terms) == {"content", "style", "tv"} and terms["style"].item() > 0


def test_noise_init_starts_away_from_the_content(loss_and_content) -> None:
    loss_fn, content = loss_and_content
    torch.manual_seed(0)
    from_noise, _ = stylize_slow(content, loss_fn, "adam", init="noise", iterations=1, lr=0.01,
                                 progress=False)
    from_content, _ = stylize_slow(content, loss_fn, "adam", init="content", iterations=1,
                                   lr=0.01, progress=False)
    assert (from_content - content).abs().max() < 0.02  # one small Adam step from the photo
    assert (from_noise - content).abs().mean() > 0.1
