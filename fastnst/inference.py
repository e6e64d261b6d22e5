"""Stylizing images and frames with a trained transform net (no Lightning needed).

    stylizer = Stylizer.from_checkpoint("checkpoints/starry_night.ckpt")
    stylized = stylizer(Image.open("photo.jpg"))   # PIL in, PIL out, same size

Two backends share one interface (`stylize_tensor`, `stylize_batches`, PIL `__call__`):
`Stylizer` runs PyTorch (CPU or GPU: autocast, channels_last, torch.compile, tiling) and
`OnnxStylizer` runs an exported ONNX model with onnxruntime on the CPU. `load_stylizer`
picks one from command-line style options.
"""

from __future__ import annotations

import ctypes
import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from fastnst.checkpoint import load_model
from fastnst.config import DEFAULT_STATS_MAX_PIXELS
from fastnst.errors import FastNSTError
from fastnst.image import to_pil, to_tensor
from fastnst.tiling import run_tiled, stats_size
from fastnst.transformer import TransformerNet

_DTYPES = {"32": None, "16": torch.float16, "bf16": torch.bfloat16}
BACKENDS = ("auto", "torch", "onnx")
# EXIF tag 0x0112: orientation; 1 is upright.
_ORIENTATION = 0x0112


def resolve_device(device: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise FastNSTError(f"--device must be auto, cpu or cuda[:N], not {device!r}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise FastNSTError("--device cuda asked for, but no CUDA GPU is available")
    return resolved


def _glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc's (Linux), else None."""
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:
        return None


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep large freed blocks for reuse instead of unmapping them.

    CPU tensors over glibc's mmap threshold (at most 32 MB by default) are mapped on
    allocation and unmapped when freed, so every forward pass on a large image faults all of
    its activations in again, page by page: measured 5.5 s of kernel time per pass on a
    1144 x 1144 tile (width 1, 2 Zen 3 cores), 40% of the run; with a 1 GB threshold and no
    trimming it is ~0 s and peak RSS grows ~7%. Process-wide, so the CLI calls it, not the
    library. Returns False (and changes nothing) where libc has no mallopt (non-glibc).
    """
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt = getattr(_glibc(), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(m_mmap_threshold, 1 << 30)) and bool(mallopt(m_trim_threshold,
                                                                       2**31 - 1))


def _release_free_memory() -> None:
    """Return malloc's free blocks to the OS (glibc; elsewhere nothing). A tiled run calls it
    after the statistics pass and after each tile: the blocks keep_freed_memory keeps
    otherwise pile up from tile to tile, even between tiles of one size. Measured at
    12000 x 8000, tile 1024, on 2 cores: peak RSS 6.1 GB (no release), 6.3 GB (release when
    the tile size changes), 5.6 GB (every tile: the statistics pass's peak), for 15% more
    time faulting each tile's memory in again (501 s -> 578 s)."""
    malloc_trim = getattr(_glibc(), "malloc_trim", None)
    if malloc_trim is not None:
        malloc_trim(0)


def _upright(image: Image.Image) -> Image.Image:
    """Rotate by the EXIF orientation; images already upright are returned without a copy."""
    if image.getexif().get(_ORIENTATION, 1) == 1:
        return image
    return ImageOps.exif_transpose(image)


def _warn_eager(err: Exception) -> None:
    reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else ""
    warnings.warn(f"torch.compile unavailable, running eagerly ({type(err).__name__}: "
                  f"{reason})", RuntimeWarning, stacklevel=4)


class BaseStylizer(ABC):
    """The interface both backends offer; subclasses implement `stylize_tensor`."""

    meta: dict[str, Any]

    @abstractmethod
    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU."""

    def stylize_batches(self, frames: Iterable[torch.Tensor],
                        batch_size: int) -> Iterator[torch.Tensor]:
        """Stylize a stream of (3, H, W) float frames in [0, 1], `batch_size` per forward pass.

        Yields stylized (3, H, W) float32 CPU frames in input order. Consecutive frames of
        one size share a batch; a size change starts a new one. Frames are pulled lazily,
        so a decoder can feed this and an encoder consume it without holding the stream.
        """
        if batch_size < 1:
            raise FastNSTError("--batch-size must be >= 1")
        batch: list[torch.Tensor] = []
        for frame in frames:
            if batch and frame.shape != batch[0].shape:
                yield from self.stylize_tensor(torch.stack(batch))  # (B, 3, H, W)
                batch = []
            batch.append(frame)
            if len(batch) == batch_size:
                yield from self.stylize_tensor(torch.stack(batch))
                batch = []
        if batch:
            yield from self.stylize_tensor(torch.stack(batch))

    def _stylize_upright(self, image: Image.Image) -> Image.Image:
        return to_pil(self.stylize_tensor(to_tensor(image).unsqueeze(0)))

    def __call__(self, image: Image.Image) -> Image.Image:
        """PIL image (any mode, EXIF-rotated upright) -> stylized RGB PIL image, same size."""
        return self._stylize_upright(_upright(image))


class Stylizer(BaseStylizer):
    """Runs a TransformerNet with PyTorch on images and batches of frames of any size.

    precision: '32', 'bf16' or '16' (autocast; '16' needs a GPU). channels_last: NHWC memory
    layout, faster for convs on GPUs (None: on for CUDA, off for the CPU). compile: wrap the
    net in torch.compile; if that fails (no compiler, unsupported platform) it warns and runs
    eagerly. tile: stylize images larger than tile x tile px in tiles with whole-image
    instance-norm statistics (fastnst.tiling), taken at up to `stats_max_pixels` pixels.
    """

    def __init__(self, net: TransformerNet, device: str = "auto", precision: str = "32",
                 meta: dict[str, Any] | None = None, *, channels_last: bool | None = None,
                 compile: bool = False, tile: int | None = None,
                 stats_max_pixels: int = DEFAULT_STATS_MAX_PIXELS) -> None:
        if precision not in _DTYPES:
            raise FastNSTError(f"precision must be 32, 16 or bf16, not {precision!r}")
        if tile is not None and tile < 16:
            raise FastNSTError("--tile must be at least 16 px")
        if stats_max_pixels < 64 * 64:
            raise FastNSTError("--stats-max-pixels must be at least 4096")
        self.device = resolve_device(device)
        self.dtype = _DTYPES[precision]
        if self.dtype is torch.float16 and self.device.type == "cpu":
            raise FastNSTError("--precision 16 needs a GPU; use bf16 or 32 on the CPU")
        self.channels_last = self.device.type == "cuda" if channels_last is None else channels_last
        self.memory_format = torch.channels_last if self.channels_last else torch.contiguous_format
        self.net = net.eval().requires_grad_(False).to(self.device,
                                                        memory_format=self.memory_format)
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._compile_works = False
        if compile:
            try:
                self.compiled = torch.compile(self.net)
            except Exception as err:  # e.g. a Python version dynamo does not support yet
                _warn_eager(err)
        self.tile = tile
        self.stats_max_pixels = stats_max_pixels
        self.meta = meta or {}

    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "auto", precision: str = "32",
                        **options: Any) -> Stylizer:
        """Load a slim or Lightning checkpoint; `options` are the keyword-only arguments."""
        net, meta = load_model(path)
        return cls(net, device=device, precision=precision, meta=meta, **options)

    def _run(self, images: torch.Tensor, net: Callable[[torch.Tensor], torch.Tensor]
             ) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True).contiguous(
            memory_format=self.memory_format)
        autocast = (torch.autocast(self.device.type, dtype=self.dtype)
                    if self.dtype is not None else nullcontext())
        with autocast:
            out = net(images)
        return out.float().cpu().contiguous()

    def _forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                out = self._run(images, self.compiled)
            except Exception as err:  # compiles lazily: a missing C++ compiler shows here
                if self._compile_works:
                    raise  # it compiled before: a real error, not the platform's
                _warn_eager(err)
                self.compiled = None
            else:
                self._compile_works = True
                return out
        return self._run(images, self.net)

    def _tiles(self, height: int, width: int) -> bool:
        return self.tile is not None and (height > self.tile or width > self.tile)

    @torch.inference_mode()
    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU.

        Tiled when `tile` is set and the image is larger; the tiled path runs the eager net
        (its instance norms are hooked), even with compile=True.
        """
        height, width = images.shape[-2:]
        if not self._tiles(height, width):
            return self._forward(images)
        stats_input = images
        if (height, width) != stats_size(height, width, self.stats_max_pixels):
            stats_input = F.interpolate(images.float(),
                                        stats_size(height, width, self.stats_max_pixels),
                                        mode="bilinear", antialias=True, align_corners=False)
        out = torch.empty(images.shape, dtype=torch.float32)

        def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
            out[..., box[0]:box[1], box[2]:box[3]] = stylized

        run_tiled(self.net, lambda x: self._run(x, self.net), stats_input, (height, width),
                  self.tile, lambda box: images[..., box[0]:box[1], box[2]:box[3]], write,
                  _release_free_memory)
        return out

    @torch.inference_mode()
    def _stylize_upright(self, image: Image.Image) -> Image.Image:
        if not self._tiles(image.height, image.width):
            return super()._stylize_upright(image)
        # Tiles are cut from and pasted into 8-bit PIL images, so a large image never exists
        # as a float tensor: memory is the two 8-bit images plus one tile's activations.
        height, width = stats_size(image.height, image.width, self.stats_max_pixels)
        small = image if (width, height) == image.size else image.resize(
            (width, height), Image.Resampling.LANCZOS)
        result = Image.new("RGB", image.size)

        def read(box: tuple[int, int, int, int]) -> torch.Tensor:
            top, bottom, left, right = box
            return to_tensor(image.crop((left, top, right, bottom))).unsqueeze(0)

        def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
            result.paste(to_pil(stylized), (box[2], box[0]))

        run_tiled(self.net, lambda x: self._run(x, self.net), to_tensor(small).unsqueeze(0),
                  (image.height, image.width), self.tile, read, write, _release_free_memory)
        return result


def _import_onnxruntime() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise FastNSTError("--backend onnx needs onnxruntime: pip install 'fastnst[onnx]'"
                           ) from None
    return onnxruntime


class OnnxStylizer(BaseStylizer):
    """Runs an exported ONNX transform net with onnxruntime on the CPU.

    model: path of a .onnx file or its bytes. The session uses every graph optimization and
    one intra-op thread per core PyTorch would use (torch.get_num_threads()).
    """

    def __init__(self, model: str | Path | bytes, meta: dict[str, Any] | None = None,
                 threads: int | None = None) -> None:
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        name = "the exported model" if isinstance(model, bytes) else str(model)
        try:
            self.session = ort.InferenceSession(
                model if isinstance(model, bytes) else str(model), options,
                providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own pybind exception types
            detail = str(err).strip().splitlines()[0][:160] if str(err).strip() else ""
            raise FastNSTError(f"{name}: not a usable ONNX model ({detail})") from None
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4 or inputs[0].shape[1] != 3:
            raise FastNSTError(f"{name}: not a fastnst model (expected one (N, 3, H, W) input)")
        self.input_name = inputs[0].name
        if meta is None:  # fastnst-export stores the checkpoint's metadata in the model
            stored = self.session.get_modelmeta().custom_metadata_map.get("fastnst.meta", "{}")
            meta = json.loads(stored)
        self.meta = meta

    @classmethod
    def from_model(cls, path: str | Path) -> OnnxStylizer:
        """A .onnx file as is, or a checkpoint exported to ONNX in memory."""
        path = Path(path)
        if path.suffix.lower() == ".onnx":
            if not path.is_file():
                raise FastNSTError(f"no such model: {path}")
            return cls(path)
        from fastnst.export import onnx_bytes

        net, meta = load_model(path)
        return cls(onnx_bytes(net), meta)

    def stylize_tensor(self, images: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) float RGB in [0, 1] -> stylized (N, 3, H, W) float32 on the CPU."""
        array = images.detach().float().cpu().numpy()
        height, width = array.shape[-2:]
        # The exported graph pads with reflection, which needs >= 8 px a side (the torch
        # net switches to replicate padding below that): widen tiny images by repetition.
        pad_h, pad_w = max(0, 8 - height), max(0, 8 - width)
        if pad_h or pad_w:
            array = np.pad(array, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), mode="edge")
        out = self.session.run(None, {self.input_name: np.ascontiguousarray(array)})[0]
        return torch.from_numpy(out[..., :height, :width].copy())


def load_stylizer(model: str | Path, backend: str = "auto", device: str = "auto",
                  precision: str = "32", *, tile: int | None = None, compile: bool = False,
                  stats_max_pixels: int = DEFAULT_STATS_MAX_PIXELS) -> BaseStylizer:
    """Build the stylizer that command-line options ask for.

    backend: 'torch', 'onnx', or 'auto' (onnx for a .onnx model, else torch). The onnx
    backend takes a .onnx file or a checkpoint (exported in memory) and runs on the CPU in
    fp32 without tiling or compiling; asking it for those is an error.
    """
    if backend not in BACKENDS:
        raise FastNSTError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    is_onnx = Path(model).suffix.lower() == ".onnx"
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise FastNSTError(f"{model}: an ONNX model runs with --backend onnx")
        return Stylizer.from_checkpoint(model, device, precision, tile=tile, compile=compile,
                                        stats_max_pixels=stats_max_pixels)
    unsupported = [flag for flag, used in (("--tile", tile is not None),
                                           ("--compile", compile),
                                           (f"--precision {precision}", precision != "32"),
                                           (f"--device {device}", device not in ("auto", "cpu")))
                   if used]
    if unsupported:
        raise FastNSTError(f"{', '.join(unsupported)}: not available with --backend onnx "
                           "(fp32 on the CPU); use --backend torch")
    return OnnxStylizer.from_model(model)
