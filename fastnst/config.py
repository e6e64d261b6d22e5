"""One frozen config per command, resolved as defaults < YAML files < command-line flags.

Units: sizes are pixels, weights are dimensionless loss multipliers, learning rates per step.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fastnst.errors import FastNSTError

DEFAULT_STYLE_LAYERS = ("relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1")
PRECISIONS = ("auto", "32", "16-mixed", "bf16-mixed")

# PIL refuses images above ~179 MP as decompression bombs; 150 MP still admits a 12000x8000
# photo (96 MP) while refusing the 40k x 40k bombs that would exhaust memory.
DEFAULT_MAX_PIXELS = 150_000_000
# Tiled stylizing takes instance-norm statistics from the whole image scaled to at most this
# many pixels: 4 MP keeps that pass near 2.5 GB on the CPU (fp32, width 1; our measurement).
DEFAULT_STATS_MAX_PIXELS = 4_000_000


@dataclass(frozen=True)
class LossConfig:
    """Perceptual loss settings shared by training and the slow baseline."""

    vgg_weights: str = "caffe"  # 'caffe' (original VGG19), 'torchvision', or a state-dict path
    pooling: str = "max"  # 'max' (Johnson) or 'avg' (Gatys: slightly smoother images)
    content_layers: tuple[str, ...] = ("relu2_2",)  # Johnson et al. 2016, sec. 3.1
    style_layers: tuple[str, ...] = DEFAULT_STYLE_LAYERS  # Gatys et al. 2016
    # None: 1 / mean(G_style^2) per layer, so each term is a relative Gram error (losses.py)
    style_layer_weights: tuple[float, ...] | None = None
    content_weight: float = 1.0e-5  # relu2_2 MSE of caffe features is ~1e5 at the start
    style_weight: float = 1.0
    tv_weight: float = 10.0  # TV is in [0,1]^2 units, ~5e-3 on photos: a light smoothing
    style_size: int | None = 512  # long side of the style image in px; None keeps its size
    max_pixels: int = DEFAULT_MAX_PIXELS  # larger input images are refused

    def __post_init__(self) -> None:
        if self.pooling not in ("max", "avg"):
            raise FastNSTError(f"--pooling must be 'max' or 'avg', not {self.pooling!r}")
        if not self.content_layers or not self.style_layers:
            raise FastNSTError("--content-layers and --style-layers need at least one layer each")
        weights = self.style_layer_weights
        if weights is not None and len(weights) != len(self.style_layers):
            raise FastNSTError(
                f"--style-layer-weights has {len(weights)} values but --style-layers names "
                f"{len(self.style_layers)} layers"
            )
        for name in ("content_weight", "style_weight", "tv_weight"):
            if getattr(self, name) < 0:
                raise FastNSTError(f"--{name.replace('_', '-')} must be >= 0")
        if self.style_size is not None and self.style_size < 16:
            raise FastNSTError("--style-size must be at least 16 px")


@dataclass(frozen=True)
class TrainConfig(LossConfig):
    """Everything `fastnst-train` needs; configs/default.yaml says where each value comes from."""

    style: str = ""  # style image path
    data: str = ""  # folder of training photos, searched recursively
    val_data: str | None = None  # folder or file(s) for the stylized samples; default: bundled
    name: str | None = None  # run name; default: the style image's file stem
    runs_dir: str = "runs"
    output: str | None = None  # slim checkpoint path; default: checkpoints/<name>.ckpt
    half: bool = False  # store the slim checkpoint's weights as float16 (half the size)
    resume: bool = False
    image_size: int = 256
    batch_size: int = 8
    lr: float = 1.0e-3
    lr_final_ratio: float = 0.1  # cosine decay ends at lr * this
    warmup_steps: int = 200  # linear warm-up from 0: avoids the large first Adam steps
    max_steps: int = 20_000
    max_epochs: int | None = None
    width: float = 1.0  # channel multiplier of the transform net (1.0: 32/64/128)
    precision: str = "auto"
    channels_last: bool = True  # NHWC layout for the nets and batches on CUDA (ignored on CPU)
    compile: bool = False  # torch.compile the transform net and VGG (minutes of warm-up)
    accelerator: str = "auto"
    devices: str = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    seed: int = 0
    num_workers: int = 4
    log_every: int = 50
    image_every: int = 500
    checkpoint_every: int = 1000
    val_images: int = 4

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.style:
            raise FastNSTError("--style is required (a style image file)")
        if not self.data:
            raise FastNSTError("--data is required (a folder of training photos)")
        if self.precision not in PRECISIONS:
            raise FastNSTError(f"--precision must be one of {', '.join(PRECISIONS)}")
        for name in ("image_size", "batch_size", "max_steps", "log_every", "image_every",
                     "checkpoint_every", "num_nodes"):
            if getattr(self, name) < 1:
                raise FastNSTError(f"--{name.replace('_', '-')} must be >= 1")
        if self.image_size < 16:
            raise FastNSTError("--image-size must be at least 16 px")
        if self.warmup_steps < 0:
            raise FastNSTError("--warmup-steps must be >= 0")
        if self.lr <= 0:
            raise FastNSTError("--lr must be > 0")
        if self.width <= 0:
            raise FastNSTError("--width must be > 0")

    @property
    def run_name(self) -> str:
        return self.name or Path(self.style).stem


@dataclass(frozen=True)
class StylizeConfig:
    """Everything `fastnst-stylize` needs."""

    model: str = ""  # slim or Lightning checkpoint, model name, or .onnx file
    inputs: tuple[str, ...] = ()  # image files and/or folders, and/or video files
    output: str | None = None  # file (one input) or folder; default: next to each input
    device: str = "auto"  # 'auto', 'cpu', 'cuda' or 'cuda:N'
    precision: str = "32"  # '32', '16' or 'bf16' (autocast on the transform net)
    max_size: int | None = None  # downscale so the long side is at most this many px
    max_pixels: int = DEFAULT_MAX_PIXELS
    quality: int = 95  # JPEG quality
    backend: str = "auto"  # 'torch', 'onnx' (onnxruntime, CPU) or 'auto' (onnx for .onnx files)
    tile: int | None = None  # stylize in tiles of this many px a side; None: whole image
    # tiled: the whole-image instance-norm statistics pass runs at up to this many pixels
    stats_max_pixels: int = DEFAULT_STATS_MAX_PIXELS
    batch_size: int = 4  # video frames per forward pass
    compile: bool = False  # torch.compile the transform net (torch backend; warm-up cost)

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file)")
        if not self.inputs:
            raise FastNSTError("give at least one input image or folder")
        if self.precision not in ("32", "16", "bf16"):
            raise FastNSTError("--precision must be 32, 16 or bf16")
        if self.max_size is not None and self.max_size < 16:
            raise FastNSTError("--max-size must be at least 16 px")
        if self.backend not in ("auto", "torch", "onnx"):
            raise FastNSTError(f"--backend must be auto, torch or onnx, not {self.backend!r}")
        if self.tile is not None and self.tile < 16:
            raise FastNSTError("--tile must be at least 16 px (or 0 for no tiling)")
        if self.stats_max_pixels < 4096:
            raise FastNSTError("--stats-max-pixels must be at least 4096")
        if self.batch_size < 1:
            raise FastNSTError("--batch-size must be >= 1")


@dataclass(frozen=True)
class SlowConfig(LossConfig):
    """Everything `fastnst-slow` (Gatys et al. pixel optimization) needs."""

    content: str = ""
    style: str = ""
    output: str = ""
    image_size: int | None = 512  # long side of the content image in px; None keeps its size
    optimizer: str = "lbfgs"  # 'lbfgs' (Gatys) or 'adam'
    init: str = "content"  # 'content' or 'noise'
    iterations: int = 300
    lr: float = 1.0  # step size; 1.0 suits L-BFGS, use ~0.02 for Adam
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("content", "style", "output"):
            if not getattr(self, name):
                raise FastNSTError(f"--{name} is required")
        if self.optimizer not in ("lbfgs", "adam"):
            raise FastNSTError(f"--optimizer must be 'lbfgs' or 'adam', not {self.optimizer!r}")
        if self.init not in ("content", "noise"):
            raise FastNSTError(f"--init must be 'content' or 'noise', not {self.init!r}")
        if self.iterations < 1:
            raise FastNSTError("--iterations must be >= 1")


@dataclass(frozen=True)
class EvalConfig:
    """Everything `fastnst-eval` needs. The metric itself is fixed (see fastnst.evaluate)."""

    model: str = ""  # checkpoint path or bare model name
    content: str = ""  # folder (or file) of content photos
    style: str | None = None  # style image; default: the one the model was trained on
    baseline_iters: int = 0  # L-BFGS evaluations of the slow baseline per image; 0: no baseline
    output: str | None = None  # metrics .json; default: summary on stdout only
    device: str = "auto"
    max_size: int | None = 512  # content photos are downscaled to this long side, px
    batch_size: int = 8  # same-sized images per forward pass / joint L-BFGS run
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.model:
            raise FastNSTError("--model is required (a checkpoint file or model name)")
        if not self.content:
            raise FastNSTError("--content is required (a folder of photos)")
        if self.baseline_iters < 0:
            raise FastNSTError("--baseline-iters must be >= 0")
        if self.batch_size < 1:
            raise FastNSTError("--batch-size must be >= 1")
        if self.max_size is not None and self.max_size < 16:
            raise FastNSTError("--max-size must be at least 16 px")
        if self.output is not None and Path(self.output).suffix.lower() != ".json":
            raise FastNSTError(f"-o {self.output}: the metrics file must end in .json")


@dataclass(frozen=True)
class SheetConfig:
    """Everything `fastnst-sheet` (contact sheet: photos x styles) needs."""

    models: tuple[str, ...] = ()  # checkpoint paths or bare model names, one column each
    content: tuple[str, ...] = ()  # photos, one row each
    output: str = ""  # .png or .jpg
    size: int = 256  # cell side, px; photos are centre-cropped to squares and stylized at it
    device: str = "auto"
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        if not self.models:
            raise FastNSTError("--models needs at least one checkpoint or model name")
        if not self.content:
            raise FastNSTError("--content needs at least one photo")
        if not self.output:
            raise FastNSTError("-o/--output is required (a .png or .jpg file)")
        if self.size < 16:
            raise FastNSTError("--size must be at least 16 px")


C = TypeVar("C")


def _coerce(value: Any, annotation: Any) -> Any:
    """Turn YAML/CLI values into the field's type: lists become tuples, ints become floats."""
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _coerce(value, options[0])
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        item_type = typing.get_args(annotation)[0]
        return tuple(_coerce(v.strip() if isinstance(v, str) else v, item_type) for v in items)
    if annotation is float and isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return float(value)
    if annotation is int and isinstance(value, str):
        return int(value)
    if annotation is str and not isinstance(value, str):
        return str(value)
    return value


def load_config(cls: type[C], files: list[str] | tuple[str, ...] = (),
                overrides: dict[str, Any] | None = None) -> C:
    """Build `cls` from its defaults, then each YAML file in order, then `overrides`.

    Unknown keys are rejected with a "did you mean" hint; YAML keys may use '-' or '_'.
    """
    hints = typing.get_type_hints(cls)
    known = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    sources: list[tuple[str, dict[str, Any]]] = []
    for path in files:
        try:
            loaded = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise FastNSTError(f"config file not found: {path}") from None
        except (OSError, yaml.YAMLError) as err:
            raise FastNSTError(f"cannot read config {path}: {err}") from None
        if not isinstance(loaded, dict):
            raise FastNSTError(f"config {path} must be a mapping of option: value")
        sources.append((path, loaded))
    sources.append(("command line", overrides or {}))
    for origin, mapping in sources:
        for raw_key, value in mapping.items():
            key = str(raw_key).replace("-", "_")
            if key not in known:
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise FastNSTError(f"unknown option {raw_key!r} in {origin}{hint}")
            try:
                values[key] = _coerce(value, hints[key])
            except (TypeError, ValueError):
                raise FastNSTError(f"bad value {value!r} for {raw_key!r} in {origin}") from None
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-data view of a config (tuples become lists) for YAML files and checkpoints."""
    out = {}
    for key, value in dataclasses.asdict(config).items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def save_config(config: Any, path: Path) -> None:
    """Write the resolved config as YAML (the run folder keeps it for reproducibility)."""
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))


