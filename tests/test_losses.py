"""Loss functions with hand-computed values, float32 under autocast, and the named terms."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from fastnst.losses.functional import content_loss, gram_loss, gram_matrix, total_variation
from fastnst.losses.perceptual import (
    ContentTerm,
    LossTerm,
    PerceptualLoss,
    StyleTerm,
    TotalVariationTerm,
)


def test_gram_of_constant_map():
    # Every entry is sum over H*W of a*b, divided by C*H*W.
    features = torch.full((1, 2, 3, 4), 2.0)
    expected = torch.full((1, 2, 2), 2.0 * 2.0 * 12 / (2 * 12))
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_hand_computed():
    features = torch.tensor([[[[1.0, 2.0]], [[3.0, -1.0]]]])  # (1, C=2, H=1, W=2)
    # F = [[1, 2], [3, -1]]; F F^T = [[5, 1], [1, 10]]; / (2 * 1 * 2)
    expected = torch.tensor([[[5.0, 1.0], [1.0, 10.0]]]) / 4
    assert torch.allclose(gram_matrix(features), expected)


def test_gram_of_tiled_map_equals_tile():
    torch.manual_seed(0)
    tile = torch.randn(1, 3, 5, 7)
    tiled = tile.repeat(1, 1, 2, 2)
    assert torch.allclose(gram_matrix(tiled), gram_matrix(tile), atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_gram_is_float32_under_autocast(dtype: torch.dtype) -> None:
    """Under fp16 autocast a relu1_1-sized Gram of caffe-scale features (values ~100s) would
    overflow to inf in fp16 and lose digits in bf16; it must equal the fp32 Gram."""
    torch.manual_seed(0)
    features = torch.rand(2, 8, 64, 64) * 600  # caffe relu1_1 activations reach several 100s
    reference = gram_matrix(features)
    # CPU autocast covers bf16 and fp16 matmuls (bmm is on its lower-precision list).
    with torch.autocast("cpu", dtype=dtype):
        under_autocast = gram_matrix(features.to(dtype))
        loss = gram_loss(features.to(dtype), reference[:1])
    assert under_autocast.dtype == torch.float32
    assert torch.isfinite(under_autocast).all()
    # The inputs were rounded to `dtype` once; the products and sums must not be.
    rounded = gram_matrix(features.to(dtype).float())
    assert torch.allclose(under_autocast, rounded, rtol=1e-5)
    assert loss.dtype == torch.float32 and torch.isfinite(loss)


def test_fp16_gram_without_the_fix_would_overflow() -> None:
    """The case the float32 rule prevents: the same Gram computed in fp16 is inf."""
    features = torch.full((1, 4, 64, 64), 600.0)
    flat = features.half().reshape(1, 4, -1)
    assert torch.isinf(flat.float().bmm(flat.float().transpose(1, 2)).half()).any()
    assert torch.isfinite(gram_matrix(features.half())).all()


def test_content_loss_is_mse():
    a, b = torch.zeros(1, 2, 2, 2), torch.ones(1, 2, 2, 2) * 3
    assert content_loss(a, b).item() == 9.0
    assert content_loss(b, b).item() == 0.0


def test_total_variation_known_values():
    assert total_variation(torch.full((1, 3, 8, 8), 0.3)).item() == 0.0
    # Vertical stripes 0,1,0,1: every horizontal step is 1, vertical steps are 0.
    stripes = torch.tensor([0.0, 1.0, 0.0, 1.0]).repeat(1, 1, 4, 1)
    assert torch.isclose(total_variation(stripes), torch.tensor(1.0))


class _Pixels(nn.Module):
    """A stand-in loss network: 'pix' is the image itself, 'half' its 2x average pool."""

    def forward(self, images: torch.Tensor, layers: tuple[str, ...]) -> dict[str, torch.Tensor]:
        out = {"pix": images, "half": nn.functional.avg_pool2d(images, 2)}
        return {name: out[name] for name in layers}


def test_style_term_weights_layers_and_broadcasts() -> None:
    network = _Pixels()
    style = torch.zeros(1, 3, 4, 4)
    term = StyleTerm(network(style, ("pix", "half")), ("pix", "half"), weight=2.0,
                     layer_weights=(0.5, 3.0))
    output = torch.ones(3, 3, 4, 4)  # batch of 3 against one style image
    features = network(output, ("pix", "half"))
    # Gram of ones with C=3: every entry 1 * 1 * HW / (C * HW) = 1/3; style Gram is 0.
    expected = 0.5 * (1 / 3) ** 2 + 3.0 * (1 / 3) ** 2
    assert torch.isclose(term(output, features, {}), torch.tensor(expected))


def test_perceptual_loss_returns_named_weighted_terms() -> None:
    network = _Pixels()
    style = torch.rand(1, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    loss = PerceptualLoss(network, [ContentTerm(("pix",), 2.0),
                                    StyleTerm(network(style, ("half",)), ("half",), 1.0),
                                    TotalVariationTerm(10.0)])
    content = torch.full((2, 3, 8, 8), 0.5)
    targets = loss.content_targets(content)
    terms = loss(content + 0.1, targets)
    assert list(terms) == ["content", "style", "tv"]
    assert torch.isclose(terms["content"], torch.tensor(2.0 * 0.01))
    assert terms["tv"].item() == 0.0  # a constant image
    assert torch.isclose(terms.total, terms["content"] + terms["style"] + terms["tv"])
    assert set(terms.floats()) == {"content", "style", "tv", "total"}


def test_a_new_term_needs_no_other_change() -> None:
    """A term added to the list is computed, weighted and reported by its name."""

    class Brightness(LossTerm):
        name = "brightness"

        def forward(self, output, features, targets):
            return output.mean()

    loss = PerceptualLoss(_Pixels(), [TotalVariationTerm(1.0), Brightness(3.0)])
    terms = loss(torch.full((1, 3, 4, 4), 0.25), {})
    assert terms["brightness"].item() == pytest.approx(0.75)
    assert terms.total.item() == pytest.approx(0.75)


def test_duplicate_term_names_are_refused() -> None:
    with pytest.raises(ValueError, match="unique"):
        PerceptualLoss(_Pixels(), [TotalVariationTerm(1.0), TotalVariationTerm(2.0)])
