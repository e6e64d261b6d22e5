"""fastnst.core.filters: the one box mean and the one guided filter, on hand-checked cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from fastnst.core.filters import DIRECT_MAX_RADIUS, box_mean, guided_filter


@pytest.fixture(autouse=True)
def _single_thread(one_thread) -> None:
    """Small tensors: one thread is faster, and far faster on a busy machine."""


def reference_box(images: torch.Tensor, radius: int, mode: str) -> torch.Tensor:
    """Windows summed one by one in float64 (the definition, O(r^2) per pixel)."""
    height, width = images.shape[-2:]
    out = torch.empty_like(images, dtype=torch.float64)
    for y in range(height):
        for x in range(width):
            window = images[..., max(0, y - radius):y + radius + 1,
                            max(0, x - radius):x + radius + 1].double()
            out[..., y, x] = window.mean((-2, -1))
    if mode == "valid":  # windows fully inside, at their top-left corner
        out = out[..., radius:height - radius, radius:width - radius]
    return out


@pytest.mark.parametrize("radius", [0, 1, 2, 3, 6])
@pytest.mark.parametrize("mode", ["same", "valid"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_box_mean_is_the_window_average(radius, mode, dtype):
    images = torch.rand(2, 3, 13, 17, generator=torch.Generator().manual_seed(4)).to(dtype)
    out = box_mean(images, radius, mode)
    assert out.dtype == dtype
    expected = reference_box(images, radius, mode)
    assert out.shape == expected.shape
    assert torch.allclose(out.double(), expected, atol=1e-6 if dtype == torch.float32 else 1e-12)


def test_box_mean_both_algorithms_agree_with_average_pooling():
    """Direct sums up to DIRECT_MAX_RADIUS, running sums above: both are pooling."""
    images = torch.rand(1, 2, 40, 33, generator=torch.Generator().manual_seed(5))
    for radius in (DIRECT_MAX_RADIUS, DIRECT_MAX_RADIUS + 1, 5):
        size = 2 * radius + 1
        same = F.avg_pool2d(images, size, stride=1, padding=radius, count_include_pad=False)
        assert torch.allclose(box_mean(images, radius), same, atol=1e-6)
        assert torch.allclose(box_mean(images, radius, "valid"),
                              F.avg_pool2d(images, size, stride=1), atol=1e-6)


@pytest.mark.parametrize("radius", [1, 4])
def test_box_mean_known_values(radius):
    # A constant stays constant, borders included.
    constant = torch.full((1, 1, 9, 11), 0.3)
    assert torch.allclose(box_mean(constant, radius), constant, atol=1e-7)
    # A ramp along x: inside, the mean is the centre value; at the left border the clipped
    # window holds x = 0..r, whose mean is r / 2; the 'valid' windows are the ramp's centres.
    ramp = torch.arange(11.0).expand(1, 1, 9, 11)
    same = box_mean(ramp, radius)
    assert torch.allclose(same[..., radius:11 - radius], ramp[..., radius:11 - radius],
                          atol=1e-5)
    assert same[0, 0, 4, 0].item() == pytest.approx(radius / 2)
    assert torch.allclose(box_mean(ramp, radius, "valid"),
                          ramp[..., radius:9 - radius, radius:11 - radius], atol=1e-5)
    # A radius beyond the image: every window is the whole image.
    images = torch.rand(2, 3, 6, 5, generator=torch.Generator().manual_seed(6))
    assert torch.allclose(box_mean(images, 40),
                          images.mean((2, 3), keepdim=True).expand_as(images), atol=1e-6)


def test_box_mean_passes_gradients_and_refuses_bad_arguments():
    images = torch.rand(1, 1, 8, 8, dtype=torch.float64, requires_grad=True)
    for radius in (1, 2):
        assert torch.autograd.gradcheck(lambda x, r=radius: box_mean(x, r, "valid"), (images,))
        assert torch.autograd.gradcheck(lambda x, r=radius: box_mean(x, r), (images,))
    with pytest.raises(ValueError, match="mode"):
        box_mean(images, 1, "full")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="radius"):
        box_mean(images, -1)
    with pytest.raises(ValueError, match="at least that large"):
        box_mean(images, 4, "valid")


def test_guided_filter_of_an_image_by_itself_is_the_image():
    """With eps -> 0 the best local affine fit of I on I is I itself (a = Id, b = 0)."""
    image = torch.rand(1, 3, 20, 24, dtype=torch.float64,
                       generator=torch.Generator().manual_seed(7))
    for radius in (1, 3):
        out = guided_filter(image, image, radius, 1e-10)
        assert out.dtype == torch.float64 and out.shape == image.shape
        assert (out - image).abs().max().item() < 1e-5


def test_guided_filter_known_values():
    generator = torch.Generator().manual_seed(8)
    guide = torch.rand(1, 3, 18, 22, generator=generator)
    # A constant image stays constant (a = 0 and b = the constant in every window).
    constant = torch.full((1, 2, 18, 22), 0.6)
    assert guided_filter(constant, guide, 4, 1e-4).sub(0.6).abs().max().item() < 1e-5
    # An affine function of the guide's colour is reproduced (up to eps's shrinkage).
    mix = torch.tensor([[0.5, 0.2, 0.1]], dtype=torch.float64)
    graded = torch.einsum("cj,njhw->nchw", mix, guide.double()) + 0.1
    out = guided_filter(graded, guide.double(), 2, 1e-9)
    assert (out - graded).abs().max().item() < 1e-4
    # A huge eps fits no slope: the result is the box mean of the box mean of the image.
    noisy = torch.rand(1, 1, 18, 22, generator=generator, dtype=torch.float64)
    flat = guided_filter(noisy, guide.double(), 2, 1e6)
    assert torch.allclose(flat, box_mean(box_mean(noisy, 2), 2), atol=1e-6)


def test_fast_guided_filter_applies_the_fit_to_the_fine_guide():
    generator = torch.Generator().manual_seed(9)
    fine = torch.rand(1, 3, 32, 40, generator=generator)
    coarse = F.interpolate(fine, size=(16, 20), mode="area")
    mix = torch.tensor([[0.6, 0.3, 0.0], [0.1, 0.5, 0.1], [0.0, 0.2, 0.4]])
    grade = lambda x: torch.einsum("cj,njhw->nchw", mix, x) + 0.2  # noqa: E731
    out = guided_filter(grade(coarse), coarse, 1, 1e-8, fine_guide=fine)
    assert out.shape == (1, 3, 32, 40) and out.dtype == torch.float32
    assert (out - grade(fine)).abs().mean().item() < 1e-3
    # A fine guide of the coarse size gives the plain filter.
    assert torch.allclose(guided_filter(grade(coarse), coarse, 2, 1e-4, fine_guide=coarse),
                          guided_filter(grade(coarse), coarse, 2, 1e-4), atol=1e-6)
