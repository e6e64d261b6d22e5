"""The Gatys baseline: optimizing pixels lowers the perceptual loss, with either optimizer;
its parameters (no paths) and `fastnst-slow`, which adds the paths."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from fastnst.cli.slow import main as slow_main
from fastnst.core.errors import ParameterError
from fastnst.core.images import load_tensor
from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.loss_config import LossConfig
from fastnst.slow.gatys import stylize_slow, transfer_slow
from fastnst.slow.slow_config import SlowConfig, SlowParams
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


def test_lbfgs_first_step_moves_the_most_changed_pixel_by_first_step(loss_and_content) -> None:
    """Torch's own first L-BFGS step moves all pixels by lr together (at image scale a tiny
    step that the line search then grows); with first_step the second evaluation is that far
    from the start in its most-changed pixel, and the optimisation still converges."""
    loss_fn, content = loss_and_content
    start = (0.25 + 0.5 * content).contiguous()  # mid-range: no pixel clamped by the step
    targets = loss_fn.content_targets(start)
    initial = loss_fn(start, targets).total.item()
    for first_step in (0.0, 0.05):
        seen: list[torch.Tensor] = []
        image, _ = stylize_slow(start, loss_fn, "lbfgs", init=start, iterations=8,
                                progress=False, first_step=first_step,
                                on_step=lambda step, image, seen=seen: seen.append(image.clone()))
        assert len(seen) >= 8 and (seen[0] == start).all()  # evaluation 1 is the start
        change = (seen[1] - start).abs().max().item()
        if first_step:
            assert change == pytest.approx(first_step, rel=1e-3)
        else:
            assert change < 0.01
        assert loss_fn(image, targets).total.item() < 0.7 * initial


def test_noise_init_starts_away_from_the_content(loss_and_content) -> None:
    loss_fn, content = loss_and_content
    torch.manual_seed(0)
    from_noise, _ = stylize_slow(content, loss_fn, "adam", init="noise", iterations=1, lr=0.01,
                                 progress=False)
    from_content, _ = stylize_slow(content, loss_fn, "adam", init="content", iterations=1,
                                   lr=0.01, progress=False)
    assert (from_content - content).abs().max() < 0.02  # one small Adam step from the photo
    assert (from_noise - content).abs().mean() > 0.1


def test_transfer_slow_takes_tensors_and_parameters_and_keeps_the_global_random_state(
        tiny_loss_net) -> None:
    """A library user's call: tensors, SlowParams (no path) and a loss network; the noise
    start comes from params.seed, and the caller's random state is left as it was."""
    content, style = load_tensor(CONTENT, 10**8, 24), load_tensor(STYLE, 10**8, 32)
    params = SlowParams(init="noise", optimizer="adam", iterations=3, lr=0.05, seed=7)
    torch.manual_seed(0)
    state = torch.random.get_rng_state()
    image, terms = transfer_slow(content, style, params, progress=False, network=tiny_loss_net)
    assert torch.equal(torch.random.get_rng_state(), state)
    assert image.shape == content.shape and set(terms) == {"content", "style", "tv"}
    assert (image - content).abs().mean() > 0.1  # three small steps from noise
    again, _ = transfer_slow(content, style, params, progress=False, network=tiny_loss_net)
    assert torch.equal(image, again)
    other, _ = transfer_slow(content, style, dataclasses.replace(params, seed=8),
                             progress=False, network=tiny_loss_net)
    assert not torch.equal(image, other)


def test_the_commands_parameters_are_the_algorithms_without_paths() -> None:
    config = SlowConfig(content="c.jpg", style="s.jpg", output="o.png")
    assert config.params == SlowParams()
    assert config.content_layers == ("relu2_2",) and config.vgg_weights == "caffe"  # resolved
    assert not {"content", "style", "output", "device"} & {
        field.name for field in dataclasses.fields(SlowParams)}


@pytest.mark.parametrize(("params", "flags", "problem"), [
    ({"iterations": 0}, ["--iterations", "0"], "{} must be >= 1"),
    ({"image_size": 8}, ["--image-size", "8"], "{} must be at least 16 px"),
])
def test_a_bad_parameter_reads_as_the_library_names_it_and_as_the_command_flags_it(
        tmp_path: Path, capsys, params, flags, problem: str) -> None:
    """SlowParams names the field (API and web users see that); fastnst-slow the flag."""
    (name,) = params
    with pytest.raises(ParameterError) as caught:
        SlowParams(**params)
    assert str(caught.value) == problem.format(name)
    out = tmp_path / "o.png"
    assert slow_main(["--content", str(CONTENT), "--style", str(STYLE), "-o", str(out),
                      *flags]) == 2
    assert capsys.readouterr().err == f"fastnst-slow: error: {problem.format(flags[0])}\n"
    assert not out.exists()
