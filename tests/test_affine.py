"""The matting Laplacian term (Luan et al. eq. 2) against Levin et al.'s construction."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fastnst.core.errors import FastNSTError
from fastnst.losses.affine import AffineTerm, MattingLaplacian, check_size


def levin_laplacian(image: np.ndarray, epsilon: float = 1e-7, radius: int = 1) -> np.ndarray:
    """Dense N x N matting Laplacian, a line-by-line port of Levin et al.'s getLaplacian1.m
    (the Matlab code Luan et al. run): image (H, W, 3), pixels numbered row-major."""
    height, width, channels = image.shape
    size = (2 * radius + 1) ** 2
    laplacian = np.zeros((height * width, height * width))
    index = np.arange(height * width).reshape(height, width)
    for i in range(radius, height - radius):
        for j in range(radius, width - radius):
            window = index[i - radius:i + radius + 1, j - radius:j + radius + 1].ravel()
            colours = image[i - radius:i + radius + 1, j - radius:j + radius + 1].reshape(
                size, channels)
            mean = colours.mean(0)
            inverse = np.linalg.inv(colours.T @ colours / size - np.outer(mean, mean)
                                    + epsilon / size * np.eye(channels))
            centred = colours - mean
            values = (1 + centred @ inverse @ centred.T) / size
            laplacian[np.ix_(window, window)] += np.eye(size) - values
    return laplacian


@pytest.fixture(scope="module")
def small() -> tuple[torch.Tensor, np.ndarray]:
    generator = torch.Generator().manual_seed(0)
    content = torch.rand(1, 3, 6, 7, generator=generator, dtype=torch.float64)
    return content, levin_laplacian(content[0].permute(1, 2, 0).numpy())


def test_energy_equals_the_quadratic_form_of_levins_laplacian(small) -> None:
    content, laplacian = small
    outputs = torch.rand(2, 3, 6, 7, generator=torch.Generator().manual_seed(1),
                         dtype=torch.float64)
    expected = [sum(v @ laplacian @ v for v in outputs[b].reshape(3, -1).numpy())
                for b in range(2)]
    energy = MattingLaplacian.of(content).energy(outputs)
    assert energy.dtype == torch.float64 and energy.shape == (2,)
    np.testing.assert_allclose(energy.numpy(), expected, rtol=1e-9)


def test_gradient_is_twice_the_laplacian_times_the_image(small) -> None:
    content, laplacian = small
    output = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(2),
                        dtype=torch.float64, requires_grad=True)
    MattingLaplacian.of(content).energy(output).sum().backward()
    expected = 2 * np.stack([laplacian @ v for v in output.detach()[0].reshape(3, -1).numpy()])
    np.testing.assert_allclose(output.grad[0].reshape(3, -1).numpy(), expected, rtol=1e-7,
                               atol=1e-9)


def test_hand_computed_value_on_a_flat_content() -> None:
    # A flat 3x3 content: one window, Sigma = 0, so no colour explains anything and the energy
    # is n * var(V) per channel. A 0/1 checkerboard has five ones: var = 5/9 - 25/81 = 20/81,
    # 9 * 20/81 = 20/9 per channel, 20/3 for three.
    content = torch.full((1, 3, 3, 3), 0.4)
    checker = (torch.arange(9).reshape(3, 3) % 2 == 0).double().expand(1, 3, 3, 3)
    energy = MattingLaplacian.of(content).energy(checker)
    assert energy.item() == pytest.approx(20 / 3, rel=1e-9)


def test_affine_functions_of_the_content_cost_nothing_and_others_do() -> None:
    generator = torch.Generator().manual_seed(3)
    content = torch.rand(1, 3, 16, 12, generator=generator, dtype=torch.float64)
    laplacian = MattingLaplacian.of(content)
    mix = torch.tensor([[0.5, 0.2, -0.1], [0.0, 0.9, 0.3], [-0.2, 0.1, 0.6]],
                       dtype=torch.float64)
    graded = torch.einsum("cj,njhw->nchw", mix, content) + 0.1  # a colour grade of the photo
    constant = torch.full_like(content, 0.7)
    squared = content ** 2  # a curve: not affine in any window
    noisy = graded + 0.01 * torch.randn(content.shape, generator=generator, dtype=torch.float64)
    values = laplacian.energy(torch.cat([constant, graded, squared, noisy]))
    assert abs(values[0]) < 1e-9  # float64 rounding of mean(V^2) - mean(V)^2
    # epsilon * |a|^2 per window and channel is all that is left: ~1e-7 * 0.3 * 140 windows
    assert 0 <= values[1] < 1e-4
    assert values[2] > 1e-2 and values[3] > 1e-2


def test_term_is_the_energy_per_pixel_and_checks_its_size() -> None:
    content = torch.rand(1, 3, 10, 8, generator=torch.Generator().manual_seed(4))
    output = torch.rand(1, 3, 10, 8, generator=torch.Generator().manual_seed(5))
    term = AffineTerm(weight=2.0)
    targets = term.content_targets(content, {})
    value = term(output, {}, targets)
    expected = MattingLaplacian.of(content).energy(output).item() / 80
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected, rel=1e-6)
    with pytest.raises(FastNSTError, match=r"8x10 image \(80 pixels\).*limit is 79 pixels"):
        AffineTerm(1.0, max_pixels=79).content_targets(content, {})


def test_size_limit_message_names_the_limit_and_the_flag() -> None:
    check_size(2048, 2048)  # 4 MP: the default limit, accepted
    with pytest.raises(FastNSTError) as err:
        check_size(3000, 4000)
    message = str(err.value)
    assert "4000x3000" in message and "4,194,304 pixels" in message
    assert "--affine-max-pixels" in message and "\n" not in message


def test_too_small_an_image_for_a_window_is_an_error() -> None:
    with pytest.raises(FastNSTError, match="larger than 3x3"):
        MattingLaplacian.of(torch.rand(1, 3, 2, 9))


def test_a_batch_of_contents_gives_each_image_its_own_laplacian() -> None:
    generator = torch.Generator().manual_seed(0)
    contents = torch.rand(3, 3, 12, 10, generator=generator)
    outputs = torch.rand(3, 3, 12, 10, generator=generator)
    batched = MattingLaplacian.of(contents).energy(outputs)
    alone = torch.stack([MattingLaplacian.of(contents[i:i + 1]).energy(outputs[i:i + 1])[0]
                         for i in range(3)])
    assert torch.allclose(batched, alone, rtol=1e-12)
    assert len(set(batched.tolist())) == 3  # three different Laplacians, three energies
    one = MattingLaplacian.of(contents[:1]).energy(outputs)  # one content for every image
    assert torch.allclose(one[0], alone[0], rtol=1e-12)
