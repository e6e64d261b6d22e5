"""Original colours (--preserve-colors): YCbCr conversions and every stylizing path.

Tolerances: on float outputs, pixels the final clamp leaves alone (all channels strictly
inside (0, 1); at least 90% of them) keep the photo's Cb and Cr within 1e-5; on 8-bit
outputs (PIL images, files) the mean |dCb|, |dCr| is at most 0.002 (half an 8-bit level)
and 95% of pixels are within one level (1/255). Luminance must differ from the photo's by
more than 0.05 on average (starry_night: about 0.18).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.images import to_tensor
from fastnst.inference.backends import load_stylizer
from fastnst.inference.colors import preserve_colors, rgb_to_ycbcr, ycbcr_to_rgb
from fastnst.inference.stylizer import Stylizer
from tests.conftest import CONTENT

# Tiny tensors: one torch thread is as fast, and on a busy machine much faster (conftest).
pytestmark = pytest.mark.usefixtures("one_thread")
LEVEL = 1 / 255


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    with Image.open(CONTENT) as image:
        return image.convert("RGB").resize((96, 64))


@pytest.fixture(scope="module")
def stylizer() -> Stylizer:
    return Stylizer.from_checkpoint("starry_night", device="cpu", preserve_colors=True)


def check_float(output: torch.Tensor, photo: torch.Tensor) -> None:
    """Chroma kept where the clamp did not act; luminance changed."""
    out, ref = rgb_to_ycbcr(output), rgb_to_ycbcr(photo)
    inside = ((output > 0) & (output < 1)).all(dim=1, keepdim=True)  # (N, 1, H, W)
    assert inside.float().mean() >= 0.9
    chroma_diff = (out[:, 1:] - ref[:, 1:]).abs()
    assert chroma_diff.masked_select(inside).max() < 1e-5
    assert (out[:, 0] - ref[:, 0]).abs().mean() > 0.05


def check_8bit(output: Image.Image, photo: Image.Image) -> None:
    out, ref = rgb_to_ycbcr(to_tensor(output)[None]), rgb_to_ycbcr(to_tensor(photo)[None])
    chroma_diff = (out[:, 1:] - ref[:, 1:]).abs()
    assert chroma_diff.mean() <= 0.002
    assert torch.quantile(chroma_diff.flatten(), 0.95) <= LEVEL + 1e-6
    assert (out[:, 0] - ref[:, 0]).abs().mean() > 0.05


def test_ycbcr_of_primaries_is_itu_t871():
    primaries = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1], [0, 0, 0]])
    ycbcr = rgb_to_ycbcr(primaries.T.reshape(1, 3, 5, 1)).reshape(3, 5).T
    expected = torch.tensor([[0.299, 0.5 - 0.168736, 1.0],  # T.871 eq. 1-3, by hand
                             [0.587, 0.5 - 0.331264, 0.5 - 0.418688],
                             [0.114, 1.0, 0.5 - 0.081312],
                             [1.0, 0.5, 0.5],
                             [0.0, 0.5, 0.5]])
    assert torch.allclose(ycbcr, expected, atol=1e-6)


def test_ycbcr_round_trip_and_agreement_with_pil(photo):
    torch.manual_seed(0)
    images = torch.rand(2, 3, 5, 7)
    assert (ycbcr_to_rgb(rgb_to_ycbcr(images)) - images).abs().max() < 1e-6
    ours = rgb_to_ycbcr(to_tensor(photo)[None])[0] * 255  # (3, H, W) in 0-255
    pil = torch.from_numpy(np.array(photo.convert("YCbCr"))).permute(2, 0, 1)
    # PIL computes in integers and rounds: within about one level of the exact values
    assert (ours - pil.float()).abs().max() <= 1.1


def test_preserve_colors_takes_luminance_only():
    grey = torch.full((1, 3, 4, 4), 0.5)
    torch.manual_seed(0)
    stylized = torch.rand(1, 3, 4, 4)
    out = preserve_colors(stylized, grey)
    # a grey photo has no chroma: the output is grey at the stylized image's luminance
    luma = (0.299 * stylized[:, 0] + 0.587 * stylized[:, 1] + 0.114 * stylized[:, 2])
    for channel in range(3):
        assert torch.allclose(out[:, channel], luma, atol=1e-6)
    # a change of luminance adds to R, G and B alike (no clamping: a mid-grey-ish photo)
    photo = torch.tensor([0.4, 0.5, 0.6]).reshape(1, 3, 1, 1).expand(1, 3, 4, 4)
    shifted = preserve_colors(stylized, photo)
    delta = luma - (0.299 * 0.4 + 0.587 * 0.5 + 0.114 * 0.6)
    assert torch.allclose(shifted, (photo + delta[:, None]).clamp(0, 1), atol=1e-6)
    assert preserve_colors(torch.ones(1, 3, 2, 2), torch.tensor(
        [1.0, 0, 0]).reshape(1, 3, 1, 1).expand(1, 3, 2, 2)).max() <= 1.0  # clamped
    with pytest.raises(ValueError, match="differ in shape"):
        preserve_colors(stylized, grey[..., :3])


def test_image_tensor_and_pil(stylizer, photo):
    x = to_tensor(photo)[None]
    check_float(stylizer.stylize_tensor(x), x)
    check_8bit(stylizer(photo), photo)
    # without the option the colours are the model's
    plain = rgb_to_ycbcr(stylizer.with_controls(preserve_colors=False).stylize_tensor(x))
    assert (plain[:, 1:] - rgb_to_ycbcr(x)[:, 1:]).abs().mean() > 0.02


def test_tiled_image(stylizer, photo):
    photo = photo.resize((72, 40))  # two 40 px tiles
    tiled = Stylizer.from_checkpoint("starry_night", device="cpu", tile=40,
                                     preserve_colors=True)
    x = to_tensor(photo)[None]
    out = tiled.stylize_tensor(x)
    check_float(out, x)
    assert (out - stylizer.stylize_tensor(x)).abs().max() < 1e-4  # no seams: same as untiled
    check_8bit(tiled(photo), photo)  # the PIL tile path finishes each tile


def test_video_frames_in_one_batch(stylizer, photo):
    frames = [to_tensor(photo.rotate(angle)) for angle in (0, 5, 10)]
    outputs = list(stylizer.stylize_batches(iter(frames), batch_size=3))
    assert len(outputs) == 3
    check_float(torch.stack(outputs), torch.stack(frames))


def test_onnx_backend(photo):
    onnx = load_stylizer("starry_night", "onnx", preserve_colors=True)
    x = to_tensor(photo)[None]
    out = onnx.stylize_tensor(x)
    check_float(out, x)
    torch_out = Stylizer.from_checkpoint("starry_night", device="cpu",
                                         preserve_colors=True).stylize_tensor(x)
    assert (out - torch_out).abs().max() < 1e-3


def test_cli_preserve_colors(tmp_path: Path, photo, capsys):
    source = tmp_path / "photo.png"
    photo.save(source)
    target = tmp_path / "out.png"
    code = stylize_main(["--model", "starry_night", str(source), "-o", str(target),
                         "--preserve-colors", "--device", "cpu"])
    assert code == 0, capsys.readouterr().err
    with Image.open(target) as out:
        check_8bit(out.convert("RGB"), photo)
