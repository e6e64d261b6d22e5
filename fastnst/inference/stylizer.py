"""Stylizing images and frames with a trained transform net in PyTorch (no Lightning needed).

    stylizer = Stylizer.from_checkpoint("starry_night")
    stylized = stylizer(Image.open("photo.jpg"))   # PIL in, PIL out, same size

`BaseStylizer` is the interface every backend offers (`stylize_tensor`, `stylize_batches`,
PIL `__call__`); `Stylizer` runs PyTorch (CPU or GPU: autocast, channels_last,
torch.compile, tiling). The ONNX backend is fastnst.inference.onnx_backend.

Controls, on every backend and every path (images, tiles, video frames): `strength` (0: the
photo, 1: the model as trained; a net trained with --strength-conditioned takes it as an
input, other outputs are blended with the photo) and `preserve_colors` (the stylized
luminance with the photo's colours, fastnst.inference.colors). Set them when building a
stylizer or per use with `with_controls`:

    half = stylizer.with_controls(strength=0.5, preserve_colors=True)  # shares the net
"""

from __future__ import annotations

import copy
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image, ImageOps
from torch import nn

from fastnst.core.devices import resolve_device
from fastnst.core.errors import ParameterError, first_line
from fastnst.core.images import to_pil, to_tensor
from fastnst.core.memory import release_free_memory
from fastnst.inference.colors import preserve_colors as keep_photo_colors
from fastnst.inference.params import (
    DEFAULT_STATS_MAX_PIXELS,
    check_batch_size,
    check_strength,
    check_tiling,
)
from fastnst.inference.tiling import (
    downscale_pil,
    downscale_tensor,
    run_tiled,
    stats_size,
    tile_pixels,
)
from fastnst.models.checkpoint import ModelSpec, load_model, require_one_style

StylizerT = TypeVar("StylizerT", bound="BaseStylizer")
_DTYPES = {"32": None, "16": torch.float16, "bf16": torch.bfloat16}
# EXIF tag 0x0112: orientation; 1 is upright.
_ORIENTATION = 0x0112


def upright(image: Image.Image) -> Image.Image:
    """Rotate by the EXIF orientation; images already upright are returned without a copy."""
    if image.getexif().get(_ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def blend(stylized: torch.Tensor, photo: torch.Tensor, strength: float) -> torch.Tensor:
    """(1 - strength) * photo + strength * stylized: a pixel blend, for nets that do not take
    the strength. (N, 3, H, W) float in [0, 1] -> float32; exact at strength 0 and 1."""
    if strength == 1.0:
        return stylized
    return (1.0 - strength) * photo.float() + strength * stylized.float()


def frame_batches(frames: Iterable[torch.Tensor], batch_size: int) -> Iterator[torch.Tensor]:
    """Group a stream of (3, H, W) frames into (B, 3, H, W) batches, 1 <= B <= batch_size.

    Consecutive frames of one size share a batch; a size change starts a new one; order is
    kept. Frames are pulled lazily and a full batch is yielded before the next frame is
    pulled, so a decoder can feed this without the stream ever being held whole.
    """
    check_batch_size(batch_size)
    batch: list[torch.Tensor] = []
    for frame in frames:
        if batch and frame.shape != batch[0].shape:
            yield torch.stack(batch)  # (B, 3, H, W)
            batch = []
        batch.append(frame)
        if len(batch) == batch_size:
            yield torch.stack(batch)
            batch = []
    if batch:
        yield torch.stack(batch)


def _warn_eager(err: Exception) -> None:
    warnings.warn(f"torch.compile unavailable, running eagerly ({type(err).__name__}: "
                  f"{first_line(err, 200)})", RuntimeWarning, stacklevel=4)


class BaseStylizer(ABC):
    """The interface both backends offer; subclasses implement `stylize_tensor` and apply
    `apply_controls` to their net's output (conditioned nets get `strength` as an input)."""

    meta: dict[str, Any]
    strength: float = 1.0  # 0: the photo, 1: the model as trained
    preserve_colors: bool = False  # keep the photo's colours (luminance-only)

    @property
    def strength_conditioned(self) -> bool:
        """True when the net takes the strength as an input (fastnst-train
        --strength-conditioned); otherwise strengths below 1 blend output and photo."""
        return False

    @property
    def strength_mode(self) -> str:
        """How `strength` acts, in words (fastnst-stylize prints it)."""
        return ("conditioned model" if self.strength_conditioned
                else "blended (the model was not trained with --strength-conditioned)")

    def with_controls(self: StylizerT, *, strength: float | None = None,
                      preserve_colors: bool | None = None) -> StylizerT:
        """A shallow copy with other controls (None: keep this one's); it shares the net,
        so per-request settings cost nothing and never change this stylizer."""
        other = copy.copy(self)
        if strength is not None:
            other.strength = check_strength(strength)
        if preserve_colors is not None:
            other.preserve_colors = bool(preserve_colors)
        return other

    @property
    def controls_active(self) -> bool:
        """Whether apply_controls changes anything (it needs the photo's pixels then)."""
        blends = not self.strength_conditioned and self.strength != 1.0
        return blends or self.preserve_colors

    def apply_controls(self, stylized: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
        """The controls the net does not apply itself: the strength blend (unconditioned
        nets), then preserve_colors. stylized, photo: (N, 3, H, W) float in [0, 1] on one
        device -> float32; pixelwise, so tiles can be finished one by one."""
        if not self.strength_conditioned:
            stylized = blend(stylized, photo, self.strength)
        if self.preserve_colors:
            stylized = keep_photo_colors(stylized, photo)
        return stylized

    @abstractmethod
    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU."""

    def stylize_batches(self, frames: Iterable[torch.Tensor],
                        batch_size: int) -> Iterator[torch.Tensor]:
        """Stylize a stream of (3, H, W) float frames in [0, 1], `batch_size` per forward pass.

        Yields stylized (3, H, W) float32 CPU frames in input order, batched by
        `frame_batches`, so a decoder can feed this and an encoder consume it without holding
        the stream.
        """
        for batch in frame_batches(frames, batch_size):
            yield from self.stylize_tensor(batch)

    def _stylize_upright(self, image: Image.Image) -> Image.Image:
        return to_pil(self.stylize_tensor(to_tensor(image).unsqueeze(0)))

    def __call__(self, image: Image.Image) -> Image.Image:
        """PIL image (any mode, EXIF-rotated upright) -> stylized RGB PIL image, same size."""
        return self._stylize_upright(upright(image))


class Stylizer(BaseStylizer):
    """Runs a TransformerNet with PyTorch on images and batches of frames of any size.

    precision: '32', 'bf16' or '16' (autocast; '16' needs a GPU). channels_last: NHWC memory
    layout, faster for convs on GPUs (None: on for CUDA, off for the CPU). compile: wrap the
    net in torch.compile, one static graph per input size; if compiling fails (no compiler,
    unsupported platform) it warns and runs eagerly, and if it fails for one new size only,
    that size runs eagerly. tile: stylize images larger than tile x tile px in tiles with
    whole-image instance-norm statistics (fastnst.tiling), taken at up to `stats_max_pixels`
    pixels (None: one tile's pixels with its margins, so memory is bounded by the tile).
    strength, preserve_colors: the controls (see the module docstring).
    """

    def __init__(self, net: nn.Module, device: str = "auto", precision: str = "32",
                 meta: dict[str, Any] | None = None, *, channels_last: bool | None = None,
                 compile: bool = False, tile: int | None = None,
                 stats_max_pixels: int | None = DEFAULT_STATS_MAX_PIXELS,
                 strength: float = 1.0, preserve_colors: bool = False) -> None:
        if precision not in _DTYPES:
            raise ParameterError("precision", f"must be 32, 16 or bf16, not {precision!r}")
        check_tiling(tile, stats_max_pixels)
        require_one_style(net, (meta or {}).get("model", "this model"))
        self.device = resolve_device(device)
        self.dtype = _DTYPES[precision]
        if self.dtype is torch.float16 and self.device.type == "cpu":
            raise ParameterError("precision", "16 needs a GPU; use bf16 or 32 on the CPU")
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.net = net.eval().requires_grad_(False).to(self.device,
                                                        memory_format=self.memory_format)
        self.compiled: Callable[..., torch.Tensor] | None = None
        # Input shapes (N, C, H, W) that ran compiled, and those that failed to compile and
        # run eagerly: a compiler error on a new shape is the compiler's, not the input's.
        self.compiled_shapes: set[tuple[int, ...]] = set()
        self.eager_shapes: set[tuple[int, ...]] = set()
        if compile:
            try:
                # Static shapes: one graph per input size. Dynamo's default marks a dimension
                # dynamic when its second size arrives, and inductor then failed on the
                # reflection padding's size arithmetic for sizes that are not multiples of 4
                # (torch 2.14, CPU: fastnst-stylize --compile on the bundled photos at
                # --max-size 97). Dynamo's recompile limit (8 graphs) still applies: later
                # new sizes run eagerly, with dynamo's warning.
                self.compiled = torch.compile(self.net, dynamic=False)
            except Exception as err:  # e.g. a Python version dynamo does not support yet
                _warn_eager(err)
        self.tile = tile
        self.stats_max_pixels = stats_max_pixels
        self.meta = meta or {}
        self.strength = check_strength(strength)
        self.preserve_colors = preserve_colors

    @property
    def strength_conditioned(self) -> bool:
        return bool(getattr(self.net, "strength_conditioned", False))

    @classmethod
    def from_checkpoint(cls, path: str | Path | ModelSpec, device: str = "auto",
                        precision: str = "32", **options: Any) -> Stylizer:
        """Load a slim or Lightning checkpoint (a path, a model name or a resolved ModelSpec:
        see fastnst.models.checkpoint.resolve_spec); `options` are the keyword-only
        arguments."""
        net, meta = load_model(path)
        return cls(net, device=device, precision=precision, meta={"model": str(path), **meta},
                   **options)

    def _run(self, images: torch.Tensor, net: Callable[..., torch.Tensor]) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format)
        # A conditioned net takes the strength as its second input, (1,) for the whole batch.
        strength = ((torch.full((1,), self.strength, device=self.device),)
                    if self.strength_conditioned else ())
        autocast = (torch.autocast(self.device.type, dtype=self.dtype)
                    if self.dtype is not None else nullcontext())
        with autocast:
            out = net(images, *strength)
        return out.float().cpu().contiguous()

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        shape = tuple(images.shape)
        if self.compiled is not None and shape not in self.eager_shapes:
            try:
                out = self._run(images, self.compiled)
            except Exception as err:  # compiles lazily: a missing C++ compiler shows here
                if shape in self.compiled_shapes:
                    raise  # this shape ran compiled before: a real error, not the compiler's
                _warn_eager(err)
                if self.compiled_shapes:  # the compiler works, but not for this shape
                    self.eager_shapes.add(shape)
                else:  # it never worked here (no C++ compiler, unsupported platform)
                    self.compiled = None
            else:
                self.compiled_shapes.add(shape)
                return out
        return self._run(images, self.net)

    def _tiles(self, height: int, width: int) -> bool:
        return self.tile is not None and (height > self.tile or width > self.tile)

    def _stats_size(self, height: int, width: int) -> tuple[int, int]:
        """(h, w) px of the tiled run's statistics pass for a height x width image."""
        assert self.tile is not None
        budget = self.stats_max_pixels or tile_pixels(self.net, self.tile)
        return stats_size(height, width, budget)

    @torch.inference_mode()
    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU.

        Tiled when `tile` is set and the image is larger; the tiled path runs the eager net
        (its instance norms are hooked), even with compile=True. The controls apply.
        """
        height, width = images.shape[-2:]
        if not self._tiles(height, width):
            out = self._forward(images)
            if not self.controls_active:
                return out
            return self.apply_controls(out, images.detach().float().cpu())
        stats_input = downscale_tensor(images, self._stats_size(height, width))
        out = torch.empty(images.shape, dtype=torch.float32)

        def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
            if self.controls_active:
                photo = images[..., box[0]:box[1], box[2]:box[3]].detach().float().cpu()
                stylized = self.apply_controls(stylized, photo)
            out[..., box[0]:box[1], box[2]:box[3]] = stylized

        run_tiled(self.net, lambda x: self._run(x, self.net), stats_input, (height, width),
                  self.tile, lambda box: images[..., box[0]:box[1], box[2]:box[3]], write,
                  release_free_memory)
        return out

    @torch.inference_mode()
    def _stylize_upright(self, image: Image.Image) -> Image.Image:
        if not self._tiles(image.height, image.width):
            return super()._stylize_upright(image)
        # Tiles are cut from and pasted into 8-bit PIL images, so a large image never exists
        # as a float tensor: memory is the two 8-bit images plus one tile's activations.
        small = downscale_pil(image, self._stats_size(image.height, image.width))
        result = Image.new("RGB", image.size)

        def read(box: tuple[int, int, int, int]) -> torch.Tensor:
            top, bottom, left, right = box
            return to_tensor(image.crop((left, top, right, bottom))).unsqueeze(0)

        def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
            if self.controls_active:
                stylized = self.apply_controls(stylized, read(box))
            result.paste(to_pil(stylized), (box[2], box[0]))

        run_tiled(self.net, lambda x: self._run(x, self.net), to_tensor(small).unsqueeze(0),
                  (image.height, image.width), self.tile, read, write, release_free_memory)
        return result
