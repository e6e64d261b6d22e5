"""fastnst.inference.smoothing and fastnst-stylize --smooth: photorealistic smoothing on small
generated images (a flat two-tone photo with one sharp edge, a noisy stylized version)."""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.core.filters import box_mean
from fastnst.core.images import load_tensor
from fastnst.inference.smoothing import (
    MATTING_MAX_PIXELS,
    apply_stencil,
    guided_smooth,
    matting_smooth,
    matting_stencil,
    resolve_method,
    smooth,
    smooth_image,
)
from fastnst.losses.affine import MattingLaplacian


@pytest.fixture(autouse=True)
def _single_thread(one_thread) -> None:
    """Small tensors: one thread is faster, and far faster on a busy machine."""


EDGE = 20  # the step edge of two_tone sits between columns EDGE - 1 and EDGE


def two_tone(height: int = 32, width: int = 40) -> torch.Tensor:
    """(1, 3, H, W): a dark blue left part and a light orange right part, split at EDGE."""
    image = torch.empty(1, 3, height, width)
    image[..., :EDGE] = torch.tensor([0.1, 0.2, 0.5]).view(1, 3, 1, 1)
    image[..., EDGE:] = torch.tensor([0.9, 0.6, 0.3]).view(1, 3, 1, 1)
    return image


def noisy_stylized(content: torch.Tensor, sigma: float = 0.1) -> torch.Tensor:
    """A 'stylized' content: other colours (a linear map of the content's) plus seeded noise."""
    generator = torch.Generator().manual_seed(0)
    recoloured = 0.2 + 0.6 * content.flip(1)  # channels swapped: a recolouring
    noise = sigma * torch.randn(content.shape, generator=generator)
    return (recoloured + noise).clamp(0, 1)


def edge_contrast(image: torch.Tensor) -> float:
    """Mean absolute colour step between the columns either side of EDGE."""
    return (image[..., EDGE] - image[..., EDGE - 1]).abs().mean().item()


def flat_noise(image: torch.Tensor) -> float:
    """Standard deviation inside the two flat parts, 4 px away from edge and border."""
    left, right = image[..., 4:-4, 4:EDGE - 4], image[..., 4:-4, EDGE + 4:-4]
    return (left.flatten(2).std(2).mean() + right.flatten(2).std(2).mean()).item() / 2


@pytest.mark.parametrize("method", ["matting", "guided"])
def test_constant_image_stays_constant(method):
    content = torch.rand(1, 3, 24, 30, generator=torch.Generator().manual_seed(1))
    stylized = torch.full((1, 3, 24, 30), 0.37)
    out = smooth(stylized, content, method)
    assert out.sub(0.37).abs().max().item() < 1e-5


@pytest.mark.parametrize("method", ["matting", "guided"])
def test_removes_noise_in_flat_regions_keeps_the_edge_sharp(method):
    content = two_tone()
    stylized = noisy_stylized(content)
    clean = 0.2 + 0.6 * content.flip(1)
    out = smooth(stylized, content, method)
    # Noise inside the flat parts gone (0.1 before; ~3e-4 after, measured).
    assert flat_noise(stylized) > 0.08
    assert flat_noise(out) < 0.1 * flat_noise(stylized)
    # The content's edge stays a one-pixel step as strong as in the clean recolouring (0.28),
    # while a 5x5 blur, which removes the noise less well (0.02), cuts it to a fifth.
    assert edge_contrast(out) > 0.9 * edge_contrast(clean)
    blurred = box_mean(stylized, 2)
    assert edge_contrast(blurred) < 0.3 * edge_contrast(clean)
    # And it keeps the recolouring: the flat parts' means are the stylized ones.
    assert (out - clean)[..., 4:-4, 4:EDGE - 4].mean(-1).mean(-1).abs().max() < 0.02


def test_guided_and_matting_agree_roughly():
    content = two_tone(40, 48)
    content = content + 0.02 * torch.rand(content.shape, generator=torch.Generator().manual_seed(2))
    stylized = noisy_stylized(content, 0.15)
    matting = smooth(stylized, content, "matting")
    guided = smooth(stylized, content, "guided")
    apart = (matting - guided).abs().mean().item()
    assert apart < 0.03
    assert apart < 0.3 * (stylized - matting).abs().mean().item()


def test_subsampled_guided_filter_stays_close_and_sharp():
    content = two_tone(64, 80)
    stylized = noisy_stylized(content)
    full = guided_smooth(stylized, content, radius=8)
    fast = guided_smooth(stylized, content, radius=8, subsample=2)
    assert fast.shape == full.shape
    assert (fast - full).abs().mean().item() < 0.005  # measured 0.0006
    assert edge_contrast(fast) > 0.9 * edge_contrast(0.2 + 0.6 * content.flip(1))
    constant = torch.full_like(stylized, 0.6)
    assert guided_smooth(constant, content, subsample=3).sub(0.6).abs().max().item() < 1e-5


@pytest.mark.parametrize("method", ["matting", "guided"])
def test_shape_dtype_and_range_at_odd_sizes(method):
    generator = torch.Generator().manual_seed(3)
    content = torch.rand(2, 3, 23, 37, generator=generator)
    stylized = torch.rand(2, 3, 23, 37, generator=generator) * 1.4 - 0.2  # beyond [0, 1]
    out = smooth(stylized, content, method)
    assert out.shape == (2, 3, 23, 37)
    assert out.dtype == torch.float32
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    # Each image is smoothed by its own content: the batch equals one by one.
    single = smooth(stylized[1:], content[1:], method)
    assert torch.allclose(out[1:], single, atol=1e-4)


def test_pil_in_pil_out_and_size_mismatch():
    content = Image.new("RGB", (29, 17), (40, 90, 200))
    stylized = Image.new("RGB", (29, 17), (200, 30, 10))
    out = smooth_image(stylized, content, "guided")
    assert out.size == (29, 17) and out.mode == "RGB"
    assert out.getpixel((5, 5)) == (200, 30, 10)  # constant in, constant out
    with pytest.raises(FastNSTError, match="29x17 and 30x17"):
        smooth_image(stylized, Image.new("RGB", (30, 17)))
    with pytest.raises(FastNSTError, match="one shape"):
        smooth(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))


def test_auto_picks_matting_up_to_the_limit():
    assert resolve_method("auto", MATTING_MAX_PIXELS) == "matting"
    assert resolve_method("auto", MATTING_MAX_PIXELS + 1) == "guided"
    assert resolve_method("guided", 10) == "guided"
    with pytest.raises(FastNSTError, match="smooth_method must be one of auto, matting, guided"):
        resolve_method("bilateral", 10)


def test_matting_stencil_is_the_normalized_laplacian_of_affine_term():
    """x^T D^1/2 (I - S) D^1/2 x is the matting Laplacian's energy (fastnst.losses.affine),
    D counts the windows holding each pixel, and D^1/2 1 is S's fixed point."""
    generator = torch.Generator().manual_seed(5)
    content = torch.rand(3, 11, 14, generator=generator)
    stencil, degree = matting_stencil(content)
    assert stencil.shape == (5, 5, 11, 14)
    assert degree[5, 6].item() == 9 and degree[0, 0].item() == 1 and degree[0, 5].item() == 3
    root = degree.sqrt()[None, None]
    x = torch.rand(1, 2, 11, 14, generator=generator)
    quadratic = (root * x * (root * x - apply_stencil(stencil, root * x))).sum((2, 3))
    energy = MattingLaplacian.of(content[None].double()).energy(
        x.double().permute(1, 0, 2, 3))  # one image per channel
    assert quadratic[0].tolist() == pytest.approx(energy.tolist(), rel=1e-4)
    assert torch.allclose(apply_stencil(stencil, root), root, atol=1e-4)


def test_matting_solution_satisfies_its_equation():
    """(D + L / lambda) R = D Y, with L = D - W, checked through the stencil."""
    content = two_tone(16, 24) + 0.05 * torch.rand(1, 3, 16, 24,
                                                   generator=torch.Generator().manual_seed(6))
    stylized = noisy_stylized(content)
    out = matting_smooth(stylized, content, smoothness=1e-2, rtol=1e-7)
    stencil, degree = matting_stencil(content[0])
    root = degree.sqrt()
    laplacian_r = root * (root * out - apply_stencil(stencil, root * out))  # L R
    residual = degree * (out - stylized) + laplacian_r / 1e-2
    assert residual.abs().max().item() < 1e-3


def test_stylize_cli_smooth(tmp_path, capsys):
    photo = tmp_path / "photo.png"
    Image.fromarray((two_tone(48, 40)[0].permute(1, 2, 0) * 255).byte().numpy()).save(photo)
    plain, smoothed = tmp_path / "plain.png", tmp_path / "smooth.png"
    assert stylize_main([str(photo), "--model", "starry_night", "-o", str(plain)]) == 0
    assert stylize_main([str(photo), "--model", "starry_night", "-o", str(smoothed),
                         "--smooth"]) == 0
    assert "smoothed: matting" in capsys.readouterr().out
    before, after = load_tensor(plain, 10**6), load_tensor(smoothed, 10**6)
    assert after.shape == before.shape == (1, 3, 48, 40)
    # The model paints strokes over the flat parts; smoothing removes most of them.
    assert flat_noise(after) < 0.5 * flat_noise(before)


def test_stylize_cli_smooth_refuses_videos(tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"not read")
    assert stylize_main([str(video), "--model", "starry_night", "--smooth"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--smooth works on images, not videos" in err
    assert not (tmp_path / "clip.stylized.mp4").exists()
