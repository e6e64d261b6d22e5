"""The photorealism term of Luan et al. (2017): the matting Laplacian of the content, matrix-free.

Luan, Paris, Shechtman and Bala, "Deep Photo Style Transfer" (CVPR 2017), eq. (2) penalise an
output O that is not locally an affine function of the content's colours:

    L_m = sum over channels c of V_c[O]^T M_I V_c[O],

with V_c[O] the channel c of O as a vector of N pixels and M_I the N x N matting Laplacian of
the content I (Levin, Lischinski and Weiss, "A Closed-Form Solution to Natural Image Matting",
PAMI 2008, eq. 12), built from the colours in every 3x3 window w_k fully inside the image:

    M_ij = sum over k with i, j in w_k of (delta_ij - (1 + (I_i - mu_k)^T A_k (I_j - mu_k)) / n),
    A_k = (Sigma_k + epsilon / n * Id_3)^-1,  n = 9 pixels per window.

Expanding the quadratic form window by window gives, with var_k and cov_k the variance of V_c
and its covariance with the three colour channels over window k,

    V_c^T M_I V_c = n * sum_k (var_k(V_c) - cov_k^T A_k cov_k),

the residual of the ridge regression of V_c on the content's colours in each window (Levin et
al. eq. 5 minimised over the affine coefficients). So the energy needs only 3x3 box means of V,
V^2 and V * I over the windows inside the image (fastnst.core.filters.box_mean, "valid"): no
N x N matrix (25 nonzeros per pixel as a sparse matrix: Luan et al.'s Matlab step, or
pymatting's cf_laplacian), no extra dependency, the same code on CPU and GPU, and
autograd gives the gradient 2 M_I V_c of Luan et al.'s eq. (3). float64 because A_k reaches
n / epsilon ~ 1e8 in flat windows, where float32 rounding of cov_k would dominate the result.
tests/test_affine.py checks it against a port of Levin et al.'s getLaplacian1.m.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from fastnst.core.errors import FastNSTError
from fastnst.core.filters import box_mean
from fastnst.losses.perceptual import Features, LossTerm

# Levin et al. 2008 and Luan et al. 2017 (deepmatting_seg.lua -eps, gen_laplacian.m): epsilon
# regularises each window's colour covariance, in squared [0, 1] colour units.
EPSILON = 1e-7
# 3x3 windows (radius 1): Levin et al.'s default and Luan et al.'s -patch 3.
RADIUS = 1
# Memory the term needs per content pixel: float64 window statistics of the content (~500
# bytes while they are built) and, per evaluation, V's box means and covariances kept for
# autograd. Our measurement on CPU at 1 MP: 673 bytes a pixel at the peak (maximum resident
# size above the baseline), against ~400 for Luan et al.'s sparse matrix (25 nonzeros a pixel,
# value and column index) before any evaluation.
BYTES_PER_PIXEL = 700
# Largest content (in pixels) the term accepts by default: 4 MP (2048 x 2048), ~2.7 GiB.
MAX_PIXELS = 4_194_304


def check_size(height: int, width: int, max_pixels: int = MAX_PIXELS) -> None:
    """Raise FastNSTError when an image of height x width px is over the term's pixel limit."""
    pixels = height * width
    if pixels > max_pixels:
        raise FastNSTError(
            f"the matting Laplacian of a {width}x{height} image ({pixels:,} pixels) needs "
            f"~{pixels * BYTES_PER_PIXEL / 2**30:.1f} GiB; the limit is {max_pixels:,} pixels "
            f"(~{BYTES_PER_PIXEL} bytes each): lower --image-size or raise --affine-max-pixels")


@dataclass(frozen=True)
class MattingLaplacian:
    """Contents and their window statistics, which define their matting Laplacians M_I.

    content: (B, 3, H, W) float64 in [0, 1]: one Laplacian per image (B = 1 for the slow
    optimiser's one photo; a training batch has one per photo).
    mean: (B, 3, h, w) float64 colour means mu_k of the windows (h = H - 2 radius, ...).
    inverse: (B, h, w, 3, 3) float64 A_k = (Sigma_k + epsilon / n Id)^-1.
    size: (H, W) in pixels; window: n, pixels per window; radius: window radius in pixels.
    """

    content: torch.Tensor
    mean: torch.Tensor
    inverse: torch.Tensor
    size: tuple[int, int]
    window: int
    radius: int

    @classmethod
    def of(cls, content: torch.Tensor, epsilon: float = EPSILON,
           radius: int = RADIUS) -> MattingLaplacian:
        """M_I of each content image (B, 3, H, W) in [0, 1] (H, W > 2 radius).

        epsilon: covariance regulariser in squared [0, 1] colour units (1e-7 in both papers);
        radius: window radius in pixels (1: 3x3 windows).
        """
        if content.dim() != 4 or content.shape[1] != 3:
            raise ValueError(f"content must be (B, 3, H, W), got {tuple(content.shape)}")
        height, width = content.shape[-2:]
        if min(height, width) <= 2 * radius:
            raise FastNSTError(f"the matting Laplacian needs images larger than "
                               f"{2 * radius + 1}x{2 * radius + 1} px, got {width}x{height}")
        image = content.detach().double()
        window = (2 * radius + 1) ** 2
        mean = box_mean(image, radius, "valid")  # (B, 3, h, w)
        products = image[:, :, None] * image[:, None]  # (B, 3, 3, H, W): I_i * I_j
        second = box_mean(products.flatten(1, 2), radius, "valid").unflatten(1, (3, 3))
        covariance = second - mean[:, :, None] * mean[:, None]  # (B, 3, 3, h, w)
        covariance = covariance.permute(0, 3, 4, 1, 2)  # (B, h, w, 3, 3)
        regulariser = epsilon / window * torch.eye(3, dtype=image.dtype, device=image.device)
        inverse = torch.linalg.inv(covariance + regulariser)
        return cls(image, mean, inverse, (height, width), window, radius)

    def energy(self, images: torch.Tensor) -> torch.Tensor:
        """sum over channels c of V_c^T M_I V_c for each image: (N, C, H, W) -> (N,) float64.

        images: any number of channels C (Luan et al.: the 3 colour channels of the output),
        same H, W as the content; image n uses content n's Laplacian (N = B), or all use the
        one content's (B = 1). 0 for a constant image; ~epsilon * |a|^2 per window for
        images that are a * I + b per window; > 0 otherwise (M_I is positive semi-definite).
        """
        if tuple(images.shape[-2:]) != self.size:
            raise ValueError(f"images are {tuple(images.shape[-2:])}, the Laplacian's content "
                             f"{self.size}")
        v = images.double()
        n, channels = v.shape[:2]
        if self.content.shape[0] not in (1, n):
            raise ValueError(f"{n} images for {self.content.shape[0]} Laplacians")
        v_mean = box_mean(v, self.radius, "valid")  # (N, C, h, w)
        variance = box_mean(v * v, self.radius, "valid") - v_mean ** 2
        # cov_k(V_c, I_j) = mean_k(V_c I_j) - mean_k(V_c) mu_kj
        products = v[:, :, None] * self.content[:, None]  # (N, C, 3, H, W)
        cross = box_mean(products.flatten(1, 2), self.radius, "valid").unflatten(
            1, (channels, 3))
        covariance = cross - v_mean[:, :, None] * self.mean[:, None]  # (N, C, 3, h, w)
        covariance = covariance.permute(0, 1, 3, 4, 2)  # (N, C, h, w, 3)
        inverse = self.inverse.expand(n, *self.inverse.shape[1:])  # (N, h, w, 3, 3)
        explained = torch.einsum("nchwi,nhwij,nchwj->nchw", covariance, inverse, covariance)
        return self.window * (variance - explained).sum(dim=(1, 2, 3))


class AffineTerm(LossTerm):
    """Luan et al.'s photorealism regularisation, per pixel: sum_c V_c^T M_I V_c / (H W).

    M_I is built from each content image (per call of content_targets: the slow optimiser's
    one photo, or each photo of a training batch, on the batch's device). Dividing by the
    pixel count makes the weight independent of image size (Luan et al.'s lambda multiplies
    the plain sum at ~700 px: their lambda 1e4 corresponds to a weight of 1e4 / 2 * 700 * 466
    here, see fastnst/photoreal/photo_config.py).
    """

    name = "affine"

    def __init__(self, weight: float, epsilon: float = EPSILON, radius: int = RADIUS,
                 max_pixels: int = MAX_PIXELS) -> None:
        super().__init__(weight)
        self.epsilon = float(epsilon)
        self.radius = int(radius)
        self.max_pixels = int(max_pixels)

    def content_targets(self, content: torch.Tensor, features: Features) -> dict[str, Any]:
        check_size(*content.shape[-2:], self.max_pixels)
        return {"affine/laplacian": MattingLaplacian.of(content, self.epsilon, self.radius)}

    def forward(self, output: torch.Tensor, features: Features,
                targets: Mapping[str, Any]) -> torch.Tensor:
        laplacian: MattingLaplacian = targets["affine/laplacian"]
        height, width = laplacian.size
        return (laplacian.energy(output).mean() / (height * width)).float()
