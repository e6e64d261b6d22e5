"""The synthetic motion of --temporal-weight training (fastnst.training.motion)."""

from __future__ import annotations

import torch

from fastnst.training.motion import MotionRange, consistency_loss, move, random_motion

IDENTITY = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]])


def test_no_motion_keeps_every_pixel():
    images = torch.rand(2, 3, 20, 24)
    moved, valid = move(images, IDENTITY.expand(2, -1, -1))
    assert torch.allclose(moved, images, atol=1e-6)
    assert valid.shape == (2, 1, 20, 24) and valid.min().item() == 1.0


def test_a_shift_moves_the_picture_and_masks_what_came_from_outside():
    images = torch.rand(1, 3, 16, 32)
    shift = IDENTITY.clone()
    shift[0, 0, 2] = 2 * 2 / 32  # 2 of 32 columns, in [-1, 1] coordinates
    moved, valid = move(images, shift)
    # each output pixel shows the photo 2 columns further right
    assert torch.allclose(moved[..., :-2], images[..., 2:], atol=1e-5)
    assert valid[0, 0, 0].tolist() == [1.0] * 30 + [0.0] * 2


def test_random_motions_stay_within_their_range():
    torch.manual_seed(0)
    motion = MotionRange(shift=0.05, zoom=0.1, rotation=5.0, noise=0.0)
    motions = random_motion(500, motion)
    assert motions.shape == (500, 2, 3)
    assert motions[:, :, 2].abs().max().item() <= 2 * 0.05
    scale = motions[:, :, :2].det().sqrt()  # det of a rotation-zoom = scale^2
    assert 0.9 <= scale.min().item() and scale.max().item() <= 1.1
    assert motions[:, :, 2].abs().max().item() > 0.08  # the range is used, not a constant


def test_consistency_is_zero_for_a_pixelwise_net_and_grows_with_a_painted_pattern():
    torch.manual_seed(0)
    photos = torch.rand(4, 3, 32, 32)
    motions = random_motion(4, MotionRange(noise=0.0))
    moved, valid = move(photos, motions)
    # a net that only recolours each pixel follows any motion exactly
    def recolour(x: torch.Tensor) -> torch.Tensor:
        return 1 - x
    assert consistency_loss(recolour(moved), recolour(photos), motions, valid).item() < 1e-10
    # a net that paints a fixed pattern on the frame does not: the pattern stays put
    pattern = torch.rand(1, 3, 32, 32)
    def painter(x: torch.Tensor) -> torch.Tensor:
        return (x + pattern).clamp(0, 1)
    assert consistency_loss(painter(moved), painter(photos), motions, valid).item() > 1e-3
