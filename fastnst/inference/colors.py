"""Keeping the photo's colours: the stylized image's luminance with the photo's chroma.

The luminance-only transfer of Gatys, Bethge, Hertzmann and Shechtman 2016, "Preserving
Color in Neural Artistic Style Transfer" (arXiv:1606.05897): the output's luminance is the
stylized image's, its chroma the photo's. The colour space here is YCbCr with BT.601 luma
coefficients in full range (ITU-T T.871, the YCbCr of JPEG/JFIF and of PIL's "YCbCr" mode),
on float RGB in [0, 1]: Y in [0, 1]; Cb, Cr in [0, 1], 0.5 for greys. (Gatys et al. use
YIQ, whose Y is the same BT.601 luma; as both spaces add a change of Y equally to R, G and
B, the result is the same: photo + (Y_stylized - Y_photo) on every channel, then clamped.)
Images are float RGB, NCHW.
"""

from __future__ import annotations

import torch

# ITU-T T.871 eq. 1-3 (full-range BT.601): rows Y, Cb, Cr; columns R, G, B.
_RGB_TO_YCBCR = torch.tensor([[0.299, 0.587, 0.114],
                              [-0.299 / 1.772, -0.587 / 1.772, 0.5],
                              [0.5, -0.587 / 1.402, -0.114 / 1.402]], dtype=torch.float64)
# The exact inverse (T.871 eq. 4-6 round its entries), so a round trip is exact to float32.
_YCBCR_TO_RGB = torch.linalg.inv(_RGB_TO_YCBCR)
_CHROMA_OFFSET = torch.tensor([0.0, 0.5, 0.5], dtype=torch.float64)


def _apply(matrix: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    matrix = matrix.to(images.device, torch.float32)
    return torch.einsum("ij,njhw->nihw", matrix, images.float())  # per-pixel 3x3 product


def rgb_to_ycbcr(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 3, H, W) float32 Y, Cb, Cr, each in [0, 1]."""
    offset = _CHROMA_OFFSET.to(images.device, torch.float32)[:, None, None]  # (3, 1, 1)
    return _apply(_RGB_TO_YCBCR, images) + offset


def ycbcr_to_rgb(images: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) Y, Cb, Cr -> (N, 3, H, W) float32 RGB, not clamped (combinations of Y and
    chroma that no RGB colour has fall outside [0, 1])."""
    offset = _CHROMA_OFFSET.to(images.device, torch.float32)[:, None, None]
    return _apply(_YCBCR_TO_RGB, images.float() - offset)


def preserve_colors(stylized: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
    """The stylized image's luminance with the photo's colours (Gatys et al. 2016).

    stylized, photo: (N, 3, H, W) float RGB in [0, 1], the same shape and device. Returns
    float32 RGB in [0, 1]: Y from `stylized`, Cb and Cr from `photo`, clamped to [0, 1].
    Where the new luminance and the photo's chroma make no RGB colour (a saturated colour
    made much lighter or darker), the clamp keeps the luminance roughly and desaturates;
    elsewhere the output's Cb, Cr equal the photo's up to float rounding.
    """
    if stylized.shape != photo.shape:
        raise ValueError(f"stylized {tuple(stylized.shape)} and photo {tuple(photo.shape)} "
                         "differ in shape")
    luma = rgb_to_ycbcr(stylized)[:, :1]  # (N, 1, H, W)
    chroma = rgb_to_ycbcr(photo)[:, 1:]  # (N, 2, H, W)
    return ycbcr_to_rgb(torch.cat([luma, chroma], dim=1)).clamp_(0.0, 1.0)
