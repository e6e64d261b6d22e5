"""Photorealistic smoothing: a stylized image made piecewise smooth along the content's edges.

FastPhotoStyle's smoothing step (Li et al. 2018, "A Closed-form Solution to Photorealistic
Image Stylization", eqs. 5-6) finds the image R closest to the stylized image Y whose
neighbouring pixels agree wherever the content photo's neighbouring pixels are alike:

    R = (1 - alpha) (I - alpha S)^-1 Y,   S = D^-1/2 W D^-1/2,   alpha = 1 / (1 + lambda),

with W the matting affinity of the content (Levin et al. 2008, "A Closed-Form Solution to
Natural Image Matting") and D its row sums. So even an artistic model's output keeps the
photo's edges. Two ways to compute it, one interface (`smooth`):

- "matting": the closed form, a sparse symmetric positive definite system (25 nonzeros per
  row, kept as a 5x5 stencil per pixel) solved matrix-free by conjugate gradients in torch,
  on the CPU or a GPU; for moderate sizes (~6 s of CPU time at 700x525). One change to
  eq. 6: its data term is weighted by each pixel's window count, which only matters within
  2 pixels of the border, where eq. 6 darkens the image (see matting_smooth).
- "guided": the guided filter (He et al. 2010/2013, "Guided Image Filtering") of the stylized
  image with the content as guide: the same locally affine colour model with O(1) work per
  pixel, fitted on a subsampled image above 1 MP (He and Sun 2015), so a 2048x1536 image
  takes ~1.5 s of CPU time.

"auto" takes "matting" up to MATTING_MAX_PIXELS and "guided" above. Images are float RGB in
[0, 1], NCHW (or PIL); outputs are clamped to [0, 1].
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from PIL import Image

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.filters import guided_filter
from fastnst.core.images import to_pil, to_tensor
from fastnst.inference.params import SMOOTH_METHODS

# FastPhotoStyle's photo_smooth.py: beta = 0.9999, i.e. lambda = 1e-4 in eq. 5.
MATTING_LAMBDA = 1e-4
# Levin et al.'s regularizer of the window covariance (colours in [0, 1]), FastPhotoStyle's
# value; 3x3 windows (radius 1) as in both papers.
MATTING_EPS = 1e-7
MATTING_RADIUS = 1
# Conjugate gradients stop at this relative residual: solving further then moves no pixel by
# more than ~1/400 (our measurement on Luan et al.'s pair 1 at 512 px, against rtol 1e-6).
MATTING_RTOL = 1e-2
MATTING_MAX_ITERS = 2000
# Guided-filter settings closest to the matting solution (mean absolute difference 0.013 on
# starry_night outputs of the six photoreal pairs at 512 px, against 0.07 unsmoothed; radius
# 8..32 px and eps 3e-5..1e-3 tried; our measurement). Window radius in pixels, eps in squared
# [0, 1] colour units.
GUIDED_RADIUS = 24
GUIDED_EPS = 1e-4
# The guided filter fits its coefficients on at most this many pixels, subsampling larger
# images (He and Sun 2015): at 2048x1536 (subsample 2) that is 1.4 s instead of 5.5 s of CPU
# time and ~0.4 GB, and moves pixels by 0.0016 on average (our measurement, one CPU thread,
# starry_night output).
GUIDED_MAX_PIXELS = 1_000_000
# "auto" solves the closed form up to this many pixels and uses the guided filter above: one
# CPU thread takes 2.5-3.3 s at 512 px (0.16-0.2 MP) and 5-6.7 s at 700 px (0.3-0.37 MP) on
# the six photoreal pairs, so ~10 s here (our measurement).
MATTING_MAX_PIXELS = 500_000


def guided_smooth(image: torch.Tensor, content: torch.Tensor, subsample: int = 1,
                  radius: int = GUIDED_RADIUS, eps: float = GUIDED_EPS) -> torch.Tensor:
    """The "guided" method: fastnst.core.filters.guided_filter of `image` with `content` as
    guide, its coefficients fitted on both `subsample` times smaller (area-downsampled, radius
    too) and applied to the full-size content (He and Sun 2015): subsample^2 times less work.

    image: (N, C, H, W) float in [0, 1]; content: (N, 3, H, W) float in [0, 1]. radius in
    pixels at full size; eps in squared [0, 1] colour units. Returns (N, C, H, W) float32
    (not clamped).
    """
    p, guide = image.float(), content.float()
    if subsample <= 1:
        return guided_filter(p, guide, radius, eps)
    height, width = p.shape[-2:]
    small = (max(1, round(height / subsample)), max(1, round(width / subsample)))
    return guided_filter(F.interpolate(p, size=small, mode="area"),
                         F.interpolate(guide, size=small, mode="area"),
                         max(1, round(radius / subsample)), eps, fine_guide=guide)


def matting_stencil(content: torch.Tensor, eps: float = MATTING_EPS,
                    radius: int = MATTING_RADIUS) -> tuple[torch.Tensor, torch.Tensor]:
    """The normalized matting affinity S = D^-1/2 W D^-1/2 of one content image, as a stencil.

    W is the matting affinity (Levin et al. 2008, eq. 12): W_ij sums, over the
    (2 radius + 1)^2 windows k fully inside the image that hold both pixels i and j,
    (1 + (I_i - mu_k)^T (Sigma_k + eps / n U)^-1 (I_j - mu_k)) / n, n the window's pixel count,
    so that the matting Laplacian is D - W with D = diag(row sums of W) = the number of windows
    holding each pixel. Window statistics come from fastnst.losses.affine.MattingLaplacian.

    content: (3, H, W) float in [0, 1]. eps: covariance regularizer in squared colour units;
    radius: window radius in pixels. Returns (S, D): S (4 radius + 1, 4 radius + 1, H, W)
    float32, entry [dy + 2 radius, dx + 2 radius, y, x] the value between pixel (y, x) and
    (y + dy, x + dx) (0 where that neighbour is outside the image); D (H, W) float32, the
    degrees (n inside, fewer within 2 radius of the border). Each W entry is at most
    (n + 1) / n per window (a pixel's leverage in its window's colour regression is at most
    1), so float32 holds S without loss that matters.
    """
    from fastnst.losses.affine import MattingLaplacian

    laplacian = MattingLaplacian.of(content[None].double(), eps, radius)
    image, mean, inverse = laplacian.content[0], laplacian.mean[0], laplacian.inverse[0]
    height, width = laplacian.size
    side, count = 2 * radius + 1, laplacian.window
    h, w = height - 2 * radius, width - 2 * radius  # window positions (top-left corners)
    offsets = [divmod(a, side) for a in range(count)]  # pixel (dy, dx) inside a window
    centred = [image[:, dy:dy + h, dx:dx + w] - mean for dy, dx in offsets]  # each (3, h, w)
    weighted = [torch.einsum("hwij,jhw->ihw", inverse, c) for c in centred]
    span = 2 * side - 1
    affinity = image.new_zeros(span, span, height, width)
    for (ay, ax), left in zip(offsets, weighted, strict=True):
        for (by, bx), right in zip(offsets, centred, strict=True):
            affinity[by - ay + 2 * radius, bx - ax + 2 * radius, ay:ay + h, ax:ax + w] += (
                1.0 + (left * right).sum(0)) / count
    degree = affinity.sum((0, 1))  # (H, W): the windows holding each pixel
    scale = degree.rsqrt()  # D^-1/2
    padded = F.pad(scale, (2 * radius,) * 4)
    for oy in range(span):
        for ox in range(span):
            affinity[oy, ox] *= scale * padded[oy:oy + height, ox:ox + width]
    return affinity.float(), degree.float()


def apply_stencil(stencil: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """S x for a stencil of matting_stencil: (K, K, H, W) and images (N, C, H, W) -> same."""
    span = stencil.shape[0]
    reach = span // 2
    height, width = images.shape[-2:]
    padded = F.pad(images, (reach,) * 4)
    out = torch.zeros_like(images)
    for oy in range(span):
        for ox in range(span):
            out.addcmul_(stencil[oy, ox], padded[..., oy:oy + height, ox:ox + width])
    return out


def matting_smooth(image: torch.Tensor, content: torch.Tensor, smoothness: float = MATTING_LAMBDA,
                   eps: float = MATTING_EPS, rtol: float = MATTING_RTOL,
                   max_iterations: int = MATTING_MAX_ITERS) -> torch.Tensor:
    """FastPhotoStyle's closed-form smoothing (Li et al. 2018, eqs. 5-6) of `image` by `content`.

    Minimizes sum_ij W_ij ||R_i - R_j||^2 / 2 + smoothness sum_i D_ii ||R_i - Y_i||^2, i.e.
    solves (D + L / smoothness) R = D Y with L = D - W the matting Laplacian. Where every
    pixel lies in n windows (D = n I: all but the 2-pixel border) this is eq. 6,
    R = (1 - alpha) (I - alpha S)^-1 Y with alpha = 1 / (1 + smoothness); at the border eq. 6
    would pull a constant image towards D^1/2 (the normalized Laplacian's null vector), to
    about 1/3 of its value in the corners, while here constant images stay constant. Solved
    as (I + (I - S) / smoothness) Z = (D / n)^1/2 Y, R = (D / n)^-1/2 Z, a symmetric positive
    definite system (I - S is the normalized matting Laplacian), matrix-free by conjugate
    gradients for all channels at once on the images' device, starting from the guided
    filter's approximation (`guided_smooth`; about a third fewer iterations than from Y).

    image: (N, C, H, W) float in [0, 1]; content: (N, 3, H, W) float in [0, 1].
    smoothness: lambda of eq. 5, the weight of staying close to Y (smaller is smoother).
    eps: the matting affinity's covariance regularizer (matting_stencil).
    rtol: CG stops when every channel's residual is below rtol times its right-hand side;
    max_iterations: CG's limit. Returns (N, C, H, W) float32 (not clamped).
    """
    results = []
    for stylized, photo in zip(image.float(), content.float(), strict=True):
        photo = photo.to(stylized.device)
        stencil, degree = matting_stencil(photo, eps)
        weight = (degree / degree.max()).sqrt()  # sqrt(D_ii / n)

        def system(x: torch.Tensor, stencil: torch.Tensor = stencil) -> torch.Tensor:
            return x + (x - apply_stencil(stencil, x)) / smoothness

        target = stylized[None] * weight  # (1, C, H, W)
        guess = guided_smooth(stylized[None], photo[None]) * weight
        solved = conjugate_gradients(system, target, guess, rtol, max_iterations)
        results.append(solved / weight)
    return torch.cat(results)


def conjugate_gradients(system: Callable[[torch.Tensor], torch.Tensor], target: torch.Tensor,
                        guess: torch.Tensor, rtol: float, max_iterations: int) -> torch.Tensor:
    """Solve system(x) = target for a symmetric positive definite linear `system`, one
    independent problem per (N, C) channel of (N, C, H, W) tensors (Hestenes and Stiefel 1952).

    Stops when every channel's residual norm is below rtol times its target's norm, or after
    max_iterations; returns x, the same shape and dtype as target.
    """
    def dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return (a * b).sum((-2, -1), keepdim=True)  # (N, C, 1, 1), one per channel

    x = guess.clone()
    residual = target - system(x)
    direction = residual.clone()
    squared = dot(residual, residual)
    limit = (rtol ** 2) * dot(target, target)
    for _ in range(max_iterations):
        if bool((squared <= limit).all()):
            break
        applied = system(direction)
        step = squared / dot(direction, applied).clamp_min(torch.finfo(x.dtype).tiny)
        x.addcmul_(step, direction)
        residual.addcmul_(step, applied, value=-1.0)
        new_squared = dot(residual, residual)
        direction = residual + (new_squared / squared.clamp_min(torch.finfo(x.dtype).tiny)
                                ) * direction
        squared = new_squared
    return x


def resolve_method(method: str, pixels: int) -> str:
    """"auto" -> "matting" up to MATTING_MAX_PIXELS pixels (H W), else "guided"."""
    if method not in SMOOTH_METHODS:
        raise ParameterError("smooth_method", f"must be one of {', '.join(SMOOTH_METHODS)}, "
                             f"not {method!r}")
    if method == "auto":
        return "matting" if pixels <= MATTING_MAX_PIXELS else "guided"
    return method


def smooth(image: torch.Tensor, content: torch.Tensor, method: str = "auto") -> torch.Tensor:
    """Photorealistic smoothing of stylized `image` along the edges of `content`.

    image, content: (N, 3, H, W) float RGB in [0, 1], the same shape. method: "matting"
    (closed form, matting_smooth), "guided" (guided_smooth, its coefficients fitted on at most
    ~GUIDED_MAX_PIXELS pixels) or "auto" (see resolve_method).
    Returns (N, 3, H, W) float32 in [0, 1] on image's device.
    """
    if image.shape != content.shape or image.dim() != 4 or image.shape[1] != 3:
        raise FastNSTError(f"smoothing needs a stylized image and its content of one shape "
                           f"(N, 3, H, W), not {tuple(image.shape)} and "
                           f"{tuple(content.shape)}")
    chosen = resolve_method(method, image.shape[-2] * image.shape[-1])
    if chosen == "matting":
        smoothed = matting_smooth(image, content)
    else:
        subsample = math.ceil(math.sqrt(image.shape[-2] * image.shape[-1] / GUIDED_MAX_PIXELS))
        smoothed = guided_smooth(image, content.to(image.device), subsample)
    return smoothed.clamp(0.0, 1.0)


def smooth_image(image: Image.Image, content: Image.Image, method: str = "auto") -> Image.Image:
    """`smooth` for PIL images: a stylized RGB image and its content photo of the same size."""
    if image.size != content.size:
        raise FastNSTError(f"smoothing needs the stylized image and its photo at one size, not "
                           f"{image.size[0]}x{image.size[1]} and "
                           f"{content.size[0]}x{content.size[1]}")
    smoothed = smooth(to_tensor(image).unsqueeze(0), to_tensor(content).unsqueeze(0), method)
    return to_pil(smoothed[0])
