"""Synthetic motion for training steady video models (`fastnst-train --temporal-weight W`).

A feed-forward net flickers on video because a small change of the input (the camera moves a
pixel, the sensor noise changes) repaints its brush strokes. Wang et al. 2020 ("Consistent
Video Style Transfer via Compound Regularization", AAAI) train the net so that stylizing a
slightly moved and noisier photo gives the same picture as moving the stylized photo:

    consistency = || T(M(x) + noise) - M(T(x)) ||^2   over the pixels M keeps inside the frame

with M a random small affine motion (shift, zoom, rotation). No video and no optical flow
are needed: the motion is known exactly, so still photos are enough.

Images are float (N, C, H, W) in [0, 1]; motions are (N, 2, 3) affine matrices in the
normalized coordinates of `torch.nn.functional.affine_grid` (align_corners=False).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class MotionRange:
    """How far one synthetic motion goes, each drawn uniformly in [-max, max].

    The defaults are the motion between two video frames a thirtieth of a second apart on a
    hand-held camera (a few pixels at 256 px), and the noise of a compressed clip. Units:
    shift as a fraction of the image side, zoom as a relative scale, rotation in degrees,
    noise as the standard deviation of Gaussian noise in [0, 1] pixel units.
    """

    shift: float = 0.02
    zoom: float = 0.03
    rotation: float = 1.0
    noise: float = 0.01


def random_motion(count: int, motion: MotionRange, device: torch.device | str = "cpu"
                  ) -> torch.Tensor:
    """(count, 2, 3) random affine motions within `motion`, from torch's global generator."""
    def uniform(limit: float) -> torch.Tensor:
        return (torch.rand(count, device=device) * 2 - 1) * limit

    angle = uniform(math.radians(motion.rotation))
    scale = 1 + uniform(motion.zoom)
    cos, sin = torch.cos(angle) * scale, torch.sin(angle) * scale
    # Normalized coordinates span [-1, 1]: a shift of f of the side is 2f.
    shift_x, shift_y = uniform(2 * motion.shift), uniform(2 * motion.shift)
    return torch.stack([torch.stack([cos, -sin, shift_x], dim=1),
                        torch.stack([sin, cos, shift_y], dim=1)], dim=1)


def move(images: torch.Tensor, motions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply (N, 2, 3) `motions` to (N, C, H, W) `images` (bilinear): (moved images (N, C, H,
    W), valid (N, 1, H, W) float, 1 where the moved pixel came from inside the frame)."""
    grid = F.affine_grid(motions.to(images.dtype), list(images.shape), align_corners=False)
    moved = F.grid_sample(images, grid, mode="bilinear", padding_mode="border",
                          align_corners=False)
    valid = (grid.abs() <= 1).all(dim=-1, keepdim=True).permute(0, 3, 1, 2)
    return moved, valid.to(images.dtype)


def moved_photos(images: torch.Tensor, motions: torch.Tensor, noise: float
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """The "next frame" of each photo: moved by `motions`, plus Gaussian noise of standard
    deviation `noise`, clamped to [0, 1]. Returns (next frames, valid) as `move`."""
    moved, valid = move(images, motions)
    if noise > 0:
        moved = (moved + torch.randn_like(moved) * noise).clamp(0, 1)
    return moved, valid


def consistency_loss(next_output: torch.Tensor, output: torch.Tensor, motions: torch.Tensor,
                     valid: torch.Tensor) -> torch.Tensor:
    """Mean squared difference, over the valid pixels and channels, between the stylized next
    frames (N, C, H, W) and the stylized photos moved by the same `motions`: 0 for a net whose
    output follows the motion exactly. Float32 scalar in [0, 1]^2 pixel units."""
    expected, _ = move(output.float(), motions)
    squared = (next_output.float() - expected).pow(2) * valid
    return squared.sum() / (valid.sum() * output.shape[1]).clamp(min=1)
