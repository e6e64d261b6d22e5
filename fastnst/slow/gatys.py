"""The Gatys et al. (2016) baseline: optimize the pixels of one image against the perceptual loss.

Slow (hundreds of loss-network passes per image) but needs no training; kept for quality
comparison. Images are float RGB in [0, 1], NCHW.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import torch
from torch import nn
from tqdm import tqdm

from fastnst.losses.builder import build_perceptual_loss
from fastnst.losses.perceptual import LossTerms, PerceptualLoss
from fastnst.slow.slow_config import SlowParams

StepCallback = Callable[[int, torch.Tensor], None]
"""on_step(evaluations_done, image (N, 3, H, W) in [0, 1]) of stylize_slow."""


@contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Run the block with torch's generators (the CPU's, and `device`'s if CUDA) seeded with
    `seed`, and restore their states after it: a repeatable noise start that leaves the
    global random state as it was."""
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def stylize_slow(content: torch.Tensor, loss_fn: PerceptualLoss, optimizer: str = "lbfgs",
                 init: str | torch.Tensor = "content", iterations: int = 300, lr: float = 1.0,
                 progress: bool = True, desc: str = "slow stylize",
                 on_step: StepCallback | None = None,
                 first_step: float = 0.0) -> tuple[torch.Tensor, LossTerms]:
    """Optimize images so their features match `content` and the loss's style.

    content: (N, 3, H, W) in [0, 1] on the loss's device. The pixels themselves are optimized
    and clamped to [0, 1] before each evaluation (as in the PyTorch tutorial).
    iterations counts loss evaluations for L-BFGS (as Gatys' max_iter) and steps for Adam.
    With N > 1 the objective is the sum of the N images' losses, so each image gets the
    gradient it would get alone; but one optimizer runs jointly over the batch (for L-BFGS: one
    step length per line search and one curvature history for all N images), so the results are
    not those of optimizing each image on its own. Batching is for GPU throughput.
    init: "content", "noise", or a starting image shaped like content (e.g. a coarser
    result, upsampled). The progress bar, titled `desc`, shows every loss term by name.
    on_step(evaluations_done, image): called after each loss evaluation with the image just
    evaluated ((N, 3, H, W), not to be modified); an exception it raises stops the run (a
    server cancels a job this way).
    first_step: for L-BFGS, the largest pixel change (in [0, 1] units) of its first trial
    step, set from the gradient at the start; 0 keeps torch's, a step of L1 length lr over
    all pixels together. At image scale torch's is tiny, so its line search spends the first
    ~5 evaluations growing it (up to 10x each): a waste when iterations is small (a
    photorealistic level has 10 to 100). Done by optimising z with image = start + scale z,
    scale from that gradient: L-BFGS's later steps do not depend on the scale (its curvature
    estimate absorbs it), so only the first step changes. Ignored by Adam.
    Returns (images (N, 3, H, W) in [0, 1], final loss terms, each a mean over the N images).
    """
    targets = loss_fn.content_targets(content)
    if isinstance(init, torch.Tensor):
        start = init.to(content.device).expand_as(content).contiguous()  # L-BFGS views grads
    else:
        start = content if init == "content" else torch.rand_like(content)
    start = start.detach()
    # The image is the variable itself, or with a first_step start + scale * variable.
    scale: float | None = None
    variable = start.clone().requires_grad_(True)

    def image_of(value: torch.Tensor) -> torch.Tensor:
        return value if scale is None else start + scale * value
    bar = tqdm(total=iterations, desc=desc, unit="it", disable=not progress)
    last: list[LossTerms] = []
    ready: list[torch.Tensor] = []  # an evaluation done before L-BFGS asks for it

    def closure() -> torch.Tensor:
        if ready:  # variable and variable.grad are still those of this evaluation
            return ready.pop()
        with torch.no_grad():  # keep the image in [0, 1]
            if scale is None:
                variable.clamp_(0, 1)
            else:
                variable.copy_((image_of(variable).clamp(0, 1) - start) / scale)
        opt.zero_grad(set_to_none=True)
        image = image_of(variable)
        terms = loss_fn(image, targets)
        objective = terms.total * image.shape[0]  # every loss term is a batch mean
        objective.backward()
        last[:] = [terms]
        bar.update(1)
        bar.set_postfix({name: f"{value:.4g}" for name, value in terms.floats().items()})
        if on_step is not None:
            on_step(bar.n, image.detach())
        return objective.detach()

    if optimizer == "lbfgs":
        opt: torch.optim.Optimizer = torch.optim.LBFGS(
            [variable], lr=lr, max_iter=iterations, max_eval=iterations,
            tolerance_grad=0.0, tolerance_change=0.0, history_size=50,
            line_search_fn="strong_wolfe")
        if first_step > 0:
            objective = closure()  # evaluation 1, at the start (the variable is the image)
            assert variable.grad is not None
            scale = first_step_scale(variable.grad, first_step, lr)
            with torch.no_grad():
                variable.grad = variable.grad * scale  # d/dz = scale d/dimage
                variable.zero_()  # image = start + scale * 0
            ready.append(objective)  # L-BFGS's first call (counted in max_eval: free here)
        opt.step(closure)
    else:
        opt = torch.optim.Adam([variable], lr=lr)
        for _ in range(iterations):
            opt.step(closure)
    bar.close()
    return image_of(variable.detach()).clamp(0, 1), last[0]


def first_step_scale(gradient: torch.Tensor, first_step: float, lr: float) -> float:
    """The scale of z (image = start + scale z) that makes torch L-BFGS's first trial step,
    -t d/dz with t = min(1, 1 / |d/dz|_1) lr, change the image by at most first_step.

    With g = d/dimage, d/dz = scale g, so the image moves by scale^2 t g:
    scale |g|_inf lr / |g|_1 when scale |g|_1 > 1, else scale^2 lr |g|_inf. 1 for a zero g.
    """
    largest, total = float(gradient.abs().max()), float(gradient.abs().sum())
    if largest == 0.0:
        return 1.0
    scale = first_step * total / (lr * largest)
    if scale * total > 1.0:
        return scale
    return (first_step / (lr * largest)) ** 0.5


def transfer_slow(content: torch.Tensor, style: torch.Tensor, params: SlowParams,
                  progress: bool = True, on_step: StepCallback | None = None,
                  network: nn.Module | None = None) -> tuple[torch.Tensor, LossTerms]:
    """Gatys et al. style transfer between images already loaded, as `params` sets it.

    content: (N, 3, H, W) and style (1, 3, Hs, Ws), float in [0, 1] on one device, at their
    working sizes (params.image_size and params.style_size say which sizes fastnst-slow uses;
    nothing is resized here). params gives the loss (LossConfig's fields), the optimiser, its
    start, steps and step size; with init "noise" the start is drawn from params.seed (see
    `seeded`: the caller's global random state is left as it was). network: a loss network
    to reuse (the one params names); by default it is built from params. on_step: see
    stylize_slow.
    Returns (images (N, 3, H, W) in [0, 1] on content's device, the final loss terms).
    """
    loss_fn = build_perceptual_loss(params, style, content.device, network)
    with seeded(params.seed, content.device):
        return stylize_slow(content, loss_fn, params.optimizer, params.init, params.iterations,
                            params.lr, progress, on_step=on_step)
