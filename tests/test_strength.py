"""Style strength (--strength, --strength-conditioned): blending, the conditioned net, export.

tests/fixtures/strength_conditioned.ckpt is a miniature conditioned model (width 0.25,
starry_night, 64 px) made by tests/fixtures/make_strength_fixture.py: a model trained inside
a test on 2 CPU cores in a minute is not far enough along for its style error to fall
steadily with the strength. Tolerance of "strength 0 is the photo": 1e-6 on float outputs
(both forms are exact by construction: (1 - 0) * photo + 0 * stylized), byte-equal on
8-bit outputs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.core.images import to_tensor
from fastnst.core.settings import load_config
from fastnst.inference.backends import load_stylizer
from fastnst.inference.export import STRENGTH_NAME, export_model
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import load_model, save_model
from fastnst.models.johnson import ConditionalInstanceNorm2d, TransformerNet
from tests.conftest import ASSETS, CONTENT, DEBUG_CONFIG
from tests.fixtures.make_strength_fixture import mean_style_errors

# Tiny tensors: one torch thread is as fast, and on a busy machine much faster (conftest).
pytestmark = pytest.mark.usefixtures("one_thread")
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "strength_conditioned.ckpt"


@pytest.fixture(scope="module")
def contents() -> torch.Tensor:
    """The four bundled content photos at 64 x 64 px, (4, 3, 64, 64) in [0, 1]."""
    images = []
    for path in sorted((ASSETS / "content").glob("*.jpg")):
        with Image.open(path) as image:
            images.append(to_tensor(image.convert("RGB").resize((64, 64))))
    return torch.stack(images)


@pytest.fixture(scope="module")
def conditioned() -> Stylizer:
    return Stylizer.from_checkpoint(FIXTURE, device="cpu")


@pytest.fixture(scope="module")
def shipped() -> Stylizer:
    return Stylizer.from_checkpoint("starry_night", device="cpu")


def test_strength_zero_is_the_photo(shipped, conditioned, contents):
    for stylizer in (shipped, conditioned):
        zero = stylizer.with_controls(strength=0.0)
        assert (zero.stylize_tensor(contents) - contents).abs().max() <= 1e-6
        with Image.open(CONTENT) as image:
            photo = image.convert("RGB").resize((50, 37))
        assert np.array_equal(np.array(zero(photo)), np.array(photo))
        frames = list(zero.stylize_batches(iter(contents[:3]), batch_size=3))  # the video path
        assert (torch.stack(frames) - contents[:3]).abs().max() <= 1e-6


def test_unconditioned_models_blend_and_strength_one_is_unchanged(shipped, contents):
    assert not shipped.strength_conditioned
    assert shipped.strength_mode.startswith("blended")
    full = shipped.stylize_tensor(contents)
    with torch.no_grad():
        assert torch.equal(full, shipped.net(contents))  # strength 1: the model's output as is
    half = shipped.with_controls(strength=0.5).stylize_tensor(contents)
    assert torch.allclose(half, 0.5 * contents + 0.5 * full, atol=1e-6)
    assert shipped.strength == 1.0  # with_controls made a copy


def test_old_checkpoints_load_as_plain_nets_that_refuse_a_strength(tmp_path):
    """A fastnst 0.1 file (arch without strength_conditioned, format_version 1; the 0.1
    starry_night preview was one) loads as a plain net computing what it computed, and asks
    for blending instead of a strength input. (Loading the format itself: test_checkpoint.)"""
    torch.manual_seed(0)
    net = TransformerNet(width=0.25, num_residual=2).eval()
    old = tmp_path / "old.ckpt"
    torch.save({"format": "fastnst.transformer", "format_version": 1,
                "arch": {"width": 0.25, "num_residual": 2}, "state_dict": net.state_dict(),
                "meta": {"fastnst_version": "0.1.0", "style": "starry_night"}}, old)
    loaded, _ = load_model(old)
    assert loaded.arch == {"name": "johnson", "width": 0.25, "num_residual": 2}
    assert not any(isinstance(m, ConditionalInstanceNorm2d) for m in loaded.modules())
    rows, cols = torch.meshgrid(torch.linspace(0, 1, 20), torch.linspace(0, 1, 24),
                                indexing="ij")
    image = torch.stack([rows, cols, (rows * cols).sqrt()])[None]  # (1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(loaded(image), net(image))
    with pytest.raises(TypeError, match="not trained with strength conditioning"):
        loaded(image, 0.5)


def test_conditioned_checkpoint_records_its_architecture(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(width=0.25, num_residual=1, strength_conditioned=True)
    assert net.arch["strength_conditioned"] is True
    assert "strength_conditioned" not in TransformerNet(width=0.25).arch
    loaded, _ = load_model(save_model(net, tmp_path / "c.ckpt"))
    assert loaded.strength_conditioned
    norms = [m for m in loaded.modules() if isinstance(m, ConditionalInstanceNorm2d)]
    assert len(norms) == 3 + 2 * 1 + 2 and norms[0].weight.shape == (2, 8)


def test_conditional_norm_interpolates_its_parameters():
    norm = ConditionalInstanceNorm2d(2)
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
        norm.bias.copy_(torch.tensor([[0.0, 1.0], [4.0, -1.0]]))
    x = torch.tensor([[-1.0, 1.0], [1.0, -1.0]]).expand(1, 2, 2, 2)  # normalized: +-1
    out = norm(x, torch.tensor([[0.75, 0.25]]))  # row weights (1 - s, s) at s = 0.25
    # gamma = 0.75 * row 0 + 0.25 * row 1 = (1.5, 3); beta = (1, 0.5)
    assert torch.allclose(out[0, 0], 1.5 * x[0, 0] + 1.0, atol=1e-4)
    assert torch.allclose(out[0, 1], 3.0 * x[0, 1] + 0.5, atol=1e-4)
    per_sample = norm(x.expand(2, 2, 2, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    assert torch.allclose(per_sample[1, 1], 6.0 * x[0, 1] - 1.0, atol=1e-3)


def falls(errors: list[float]) -> bool:
    return all(later < earlier for earlier, later in zip(errors[:-1], errors[1:], strict=True))


@pytest.mark.slow
def test_conditioned_training_in_miniature(tmp_path, photos, style_image, contents):
    """40 debug steps (64 px, width 0.25, batch 4; about 40 s on 2 busy cores) with
    --strength-conditioned: the logged total is content + strength * style + tv, the model
    file is a conditioned net, and its style error falls as the strength rises (measured:
    1.17, 0.68, 0.52, 0.45, 0.42 at strengths 0 ... 1)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from fastnst.training.train import train
    from fastnst.training.train_config import TrainConfig

    config = load_config(TrainConfig, [str(DEBUG_CONFIG)], {
        "style": str(style_image), "data": str(photos), "runs_dir": str(tmp_path / "runs"),
        "output": str(tmp_path / "model.ckpt"), "name": "cond", "max_steps": 40,
        "width": 0.25, "batch_size": 4, "image_every": 40, "checkpoint_every": 40,
        "strength_conditioned": True})
    output = train(config)
    stylizer = Stylizer.from_checkpoint(output, device="cpu")
    assert stylizer.strength_conditioned and stylizer.net.arch["strength_conditioned"]
    events = EventAccumulator(str(tmp_path / "runs" / "cond"))
    events.Reload()
    logged = {tag: [e.value for e in events.Scalars(f"train/{tag}")]
              for tag in ("strength", "content", "style", "tv", "total")}
    assert len(logged["strength"]) == 40
    assert 0.0 <= min(logged["strength"]) and max(logged["strength"]) == 1.0
    for s, content, style, tv, total in zip(*logged.values(), strict=True):
        assert total == pytest.approx(content + s * style + tv, rel=1e-5)
    errors = mean_style_errors(stylizer, contents)
    assert falls(errors), errors
    assert errors[-1] < 0.6 * errors[0], errors


def test_strength_changes_the_stylization_itself(conditioned, contents):
    """On the longer-trained fixture: the style error falls with the strength too, and
    strength 0.5 is its own stylization, not the blend of the photo and the full-strength
    output (measured mean |difference| 0.05)."""
    assert conditioned.strength_conditioned and conditioned.strength_mode == "conditioned model"
    errors = mean_style_errors(conditioned, contents)
    assert falls(errors) and errors[-1] < 0.6 * errors[0], errors
    half = conditioned.with_controls(strength=0.5).stylize_tensor(contents)
    blended = 0.5 * contents + 0.5 * conditioned.stylize_tensor(contents)
    assert (half - blended).abs().mean() > 0.02


def test_tiles_and_batches_take_the_strength(conditioned, contents):
    half = conditioned.with_controls(strength=0.5)
    tiled = Stylizer.from_checkpoint(FIXTURE, device="cpu", tile=32, strength=0.5)
    expected = half.stylize_tensor(contents)
    assert (tiled.stylize_tensor(contents) - expected).abs().max() < 1e-4
    frames = list(half.stylize_batches(iter(contents[:3]), batch_size=3))
    assert (torch.stack(frames) - expected[:3]).abs().max() < 1e-5


def test_onnx_export_keeps_the_strength_input(conditioned, contents, tmp_path):
    path = export_model(FIXTURE, "onnx", tmp_path / "c.onnx")
    onnx = load_stylizer(path)
    assert onnx.strength_conditioned
    assert [i.name for i in onnx.session.get_inputs()] == ["images", STRENGTH_NAME]
    for strength in (0.0, 0.3, 0.6, 1.0):
        ours = onnx.with_controls(strength=strength).stylize_tensor(contents)
        reference = conditioned.with_controls(strength=strength).stylize_tensor(contents)
        assert (ours - reference).abs().max() < 1e-4, strength
    # one strength per image, (N,)
    strengths = np.array([0.0, 0.3, 0.6, 1.0], dtype=np.float32)
    out = onnx.session.run(None, {"images": contents.numpy(), STRENGTH_NAME: strengths})[0]
    with torch.no_grad():
        expected = conditioned.net(contents, torch.from_numpy(strengths))
    assert np.abs(out - expected.numpy()).max() < 1e-4
    assert np.abs(out[0] - contents[0].numpy()).max() <= 1e-6


def test_torchscript_export_takes_the_strength(conditioned, contents, tmp_path):
    path = export_model(FIXTURE, "torchscript", tmp_path / "c.pt")
    module = torch.jit.load(str(path))
    strength = torch.tensor([0.4])
    with torch.no_grad():
        difference = module(contents, strength) - conditioned.net(contents, strength)
    assert difference.abs().max() < 1e-5


def test_strength_out_of_range_is_refused():
    with pytest.raises(FastNSTError, match="strength must be between 0 and 1, not 1.5"):
        Stylizer(TransformerNet(width=0.25), device="cpu", strength=1.5)
    with pytest.raises(FastNSTError, match="strength must be between 0 and 1"):
        Stylizer(TransformerNet(width=0.25), device="cpu").with_controls(strength=-0.1)


def test_training_strengths_are_drawn_as_documented():
    from fastnst.training.module import FULL_STRENGTH_PROBABILITY, draw_strength

    torch.manual_seed(0)
    draws = torch.tensor([draw_strength() for _ in range(4000)])
    assert abs((draws == 1.0).float().mean() - FULL_STRENGTH_PROBABILITY) < 0.03
    partial = draws[draws < 1.0]
    assert partial.min() >= 0.0 and abs(partial.mean() - 0.5) < 0.03


def test_cli_prints_the_strength_mode(tmp_path, capsys):
    source = tmp_path / "photo.png"
    with Image.open(CONTENT) as image:
        image.convert("RGB").resize((48, 32)).save(source)
    for model, mode in (("starry_night", "blended (the model was not trained with "
                                         "--strength-conditioned)"),
                        (str(FIXTURE), "conditioned model")):
        target = tmp_path / "out.png"
        code = stylize_main(["--model", model, str(source), "-o", str(target), "--strength",
                             "0.5", "--preserve-colors", "--device", "cpu"])
        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert captured.out.count(f"strength 0.5: {mode}\n") == 1
        with Image.open(target) as out:
            assert out.size == (48, 32)
    stylize_main(["--model", "starry_night", str(source), "-o", str(target)])
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("strength") for line in lines)  # the default says nothing
