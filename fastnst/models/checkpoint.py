"""The versioned inference-weights file, and loading a model from it or a Lightning checkpoint.

Slim file: {"format": "fastnst.transformer", "format_version": 2, "arch": {"name": ..., ...},
"state_dict": CPU tensors without "_orig_mod."/"module." prefixes, "meta": {...}}.
Version 1 (fastnst 0.1) had no architecture name; it still loads (as "johnson").
Every file is read with torch.load(weights_only=True): no arbitrary unpickling.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from fastnst import __version__
from fastnst.core.assets import SHIPPED_MODELS_DIR, STYLES_DIR, bundled_style
from fastnst.core.errors import FastNSTError, first_line
from fastnst.core.files import atomic_output
from fastnst.models.johnson import parse_style_mix, select_style
from fastnst.models.registry import build_net

FORMAT = "fastnst.transformer"
FORMAT_VERSION = 2
# Lightning checkpoints keep the net under this attribute of the LightningModule.
LIGHTNING_PREFIX = "transformer."
# torch.compile and DDP wrap the net and prefix its keys; only a leading prefix is a wrapper.
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")
MODEL_SUFFIX = ".ckpt"
CHECKPOINTS_ENV = "FASTNST_CHECKPOINTS"
# Where fastnst-train saves a model by default, relative to the folder it runs in; bare names
# are looked up there too.
TRAINED_MODELS_DIR = "models"


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes (style images are recorded by name and hash)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except FileNotFoundError:
        raise FastNSTError(f"no such file: {path}") from None
    except OSError as err:
        raise FastNSTError(f"cannot read {path}: {err.strerror}") from None
    return digest.hexdigest()


def model_search_dirs() -> list[Path]:
    """Folders searched for bare model names, in order, without duplicates.

    $FASTNST_CHECKPOINTS (one or more folders joined by os.pathsep), ./models (where
    fastnst-train saves), ./checkpoints (where fastnst 0.2 saved), and the shipped models
    inside the installed package.
    """
    env = os.environ.get(CHECKPOINTS_ENV, "")
    candidates = [Path(part) for part in env.split(os.pathsep) if part]
    candidates += [Path(TRAINED_MODELS_DIR), Path("checkpoints"), SHIPPED_MODELS_DIR]
    unique: dict[Path, Path] = {}
    for folder in candidates:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def split_model_spec(text: str) -> tuple[str, str | None]:
    """'mix.ckpt:la_muse' -> ('mix.ckpt', 'la_muse'): a model and the style (or style mix,
    'a=0.5,b=0.5') to take from a multi-style model. Text without ':' or naming an existing
    file -> (text, None)."""
    if ":" not in text or Path(text).exists():
        return text, None
    model, _, selection = text.rpartition(":")
    return model, selection


def model_styles(path: Path) -> tuple[str, ...]:
    """The style names of a multi-style model file (empty for single-style or unreadable
    files); reads only the small records (mmap), not the weights."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # unreadable files are reported when someone loads them
        return ()
    if not isinstance(payload, dict):
        return ()
    arch = payload.get("arch") or payload.get("hyper_parameters", {}).get("arch") or {}
    return tuple(arch.get("styles", ())) if isinstance(arch, dict) else ()


class ModelSpec(NamedTuple):
    """A model spec resolved to its file: resolve it once (resolve_spec) and hand this to
    load_model and the stylizers, which then neither search the model folders nor read the
    other models again. Unpacks as (path, selection)."""

    path: Path
    selection: str | None  # a style or a mix of a multi-style model ('a=0.5,b=0.5'); None: all

    def __str__(self) -> str:
        return f"{self.path}:{self.selection}" if self.selection else str(self.path)


def resolve_spec(spec: str | Path | ModelSpec) -> ModelSpec:
    """A model spec -> ModelSpec(model file, style selection or None); a ModelSpec as it is.

    Specs: a path; a bare name (`starry_night`: NAME.ckpt in model_search_dirs(), first match,
    else a style of that name in a multi-style model found there); either followed by
    `:STYLE` or `:STYLE=W,STYLE=W` (a style, or a mix, of a multi-style model). A bare name
    has no path separator and no suffix and is not an existing file. Raises FastNSTError
    naming the folders searched and the names they hold when nothing matches.
    """
    if isinstance(spec, ModelSpec):
        return spec
    text, selection = split_model_spec(str(spec))
    path = Path(text)
    is_bare = not any(sep in text for sep in ("/", os.sep)) and not path.suffix
    if not is_bare or path.is_file():
        return ModelSpec(path, selection)
    folders = model_search_dirs()
    for folder in folders:
        candidate = folder / f"{text}{MODEL_SUFFIX}"
        if candidate.is_file():
            return ModelSpec(candidate, selection)
    files = [p for folder in folders if folder.is_dir()
             for p in sorted(folder.glob(f"*{MODEL_SUFFIX}"))]
    styles = {name: p for p in reversed(files) for name in model_styles(p)}  # first wins
    if selection is None and text in styles:
        return ModelSpec(styles[text], text)
    available = sorted({p.stem for p in files} | set(styles))
    raise FastNSTError(
        f"no model named {text!r} (looked for {text}{MODEL_SUFFIX} and multi-style models' "
        f"styles in {', '.join(str(folder) for folder in folders)}; "
        f"available: {', '.join(available) if available else 'none'}; "
        f"set ${CHECKPOINTS_ENV} or give a path)")


def resolve_model(name_or_path: str | Path | ModelSpec) -> Path:
    """The model file a spec names (see resolve_spec), without its style selection."""
    return resolve_spec(name_or_path)[0]


def _strip_wrappers(key: str) -> str:
    """'_orig_mod.module.encoder.0' -> 'encoder.0': leading wrapper prefixes only."""
    stripped = True
    while stripped:
        stripped = False
        for wrapper in _WRAPPER_PREFIXES:
            if key.startswith(wrapper):
                key, stripped = key[len(wrapper):], True
    return key


def clean_state_dict(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Keep keys under `prefix` (removed), strip leading torch.compile/DDP wrapper prefixes
    (before and after `prefix`), move to CPU."""
    cleaned = {}
    for key, value in state.items():
        key = _strip_wrappers(key)
        if not key.startswith(prefix):
            continue
        cleaned[_strip_wrappers(key[len(prefix):])] = value.detach().cpu().clone()
    return cleaned


def save_model(net: nn.Module, path: str | Path, meta: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write the slim checkpoint atomically (temp file + rename); returns the path.

    net must have an `arch` property (see fastnst.models.registry). half stores the weights as
    float16 (half the file size; loading casts back to float32).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FastNSTError(f"output folder does not exist: {path.parent}")
    state = clean_state_dict(net.state_dict())
    if half:
        state = {key: value.half() if value.is_floating_point() else value
                 for key, value in state.items()}
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "arch": dict(net.arch),  # type: ignore[arg-type]
        "state_dict": state,
        "meta": {"fastnst_version": __version__, "weights_dtype": "float16" if half else "float32",
                 **(meta or {})},
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


# What every "this is not a model" message tells the user to give instead.
MODEL_FILE_HINT = ("a model file is a .ckpt from fastnst-train (models/NAME.ckpt), a "
                   "Lightning checkpoint (runs/NAME/checkpoints/last.ckpt) or a model name "
                   "such as starry_night")
# Leading bytes of the file kinds users pass by mistake (file signatures, e.g. RFC 2083 for PNG).
_SIGNATURES = ((b"\xff\xd8\xff", "a JPEG image"), (b"\x89PNG", "a PNG image"),
               (b"GIF8", "a GIF image"), (b"BM", "a BMP image"), (b"II*\x00", "a TIFF image"),
               (b"MM\x00*", "a TIFF image"), (b"%PDF", "a PDF document"),
               (b"\x1f\x8b", "a gzip archive"))


def describe_file(path: Path) -> str:
    """What a file that torch.load refused is, in a few words ("a text file", "a JPEG image"),
    from its first 4 KiB and (for zip archives) its member names; for error messages only."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if not head:
        return "an empty file"
    if head[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return "a damaged zip archive"
        if any(name.endswith("/data.pkl") for name in names):
            # torch's zip format; weights_only refused what it pickles.
            return ("a PyTorch file holding Python objects other than tensors and plain "
                    "data (refused: files are read with weights_only=True)")
        return "a zip archive"
    if head[:1] == b"\x80":
        return "a Python pickle, not a zip-format PyTorch file"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    for signature, kind in _SIGNATURES:
        if head.startswith(signature):
            return kind
    if path.suffix.lower() == ".onnx":
        return "an ONNX model (only fastnst-stylize runs those)"
    if b"\x00" not in head:
        try:
            head.decode("utf-8")
            return "a text file"
        except UnicodeDecodeError as err:
            if err.start >= len(head) - 3:  # a multi-byte character cut at 4 KiB
                return "a text file"
    return "not a PyTorch file"


def _read(path: Path) -> Any:
    """The payload of a model file, read with weights_only=True; FastNSTError in one line
    saying what the path is when it is missing, a folder or not a checkpoint."""
    if path.is_dir():
        raise FastNSTError(f"{path} is a folder, not a model file; {MODEL_FILE_HINT}")
    if not path.is_file():
        raise FastNSTError(f"no such checkpoint: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # zip/pickle/unpickling-policy errors all mean "not ours"
        # torch's own text runs over pages (the weights_only advice): say what the file is.
        raise FastNSTError(f"{path}: not a fastnst or Lightning checkpoint: it is "
                           f"{describe_file(path)}; {MODEL_FILE_HINT}") from None


def lightning_meta(hparams: dict[str, Any], global_step: Any) -> dict[str, Any]:
    """The slim-checkpoint style metadata of a Lightning checkpoint's hyper-parameters.

    hparams: what StyleTransferModule saved: {"arch": ..., "style_name", "style_sha256",
    "config": the full training config}; fastnst 0.1 saved the config's keys at the top.
    """
    config = hparams.get("config", hparams)
    style = hparams.get("style_name") or (Path(str(config.get("style"))).stem
                                         if config.get("style") else None)
    return {"style": style, "style_sha256": hparams.get("style_sha256"), "steps": global_step,
            "config": dict(config)}


def _arch_and_state(payload: Any, path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                                       dict[str, Any]]:
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        if payload.get("format_version", 0) > FORMAT_VERSION:
            raise FastNSTError(f"{path}: made by a newer fastnst (format version "
                               f"{payload['format_version']}); upgrade fastnst")
        # save_model writes clean keys; files written by hand from a compiled or DDP net may not.
        return payload["arch"], clean_state_dict(payload["state_dict"]), payload.get("meta", {})
    if isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload:
        hparams = payload["hyper_parameters"]
        arch = hparams.get("arch") or {"width": float(hparams.get("width", 1.0)),
                                       "num_residual": int(hparams.get("num_residual", 5))}
        state = clean_state_dict(payload["state_dict"], LIGHTNING_PREFIX)
        if not state:
            raise FastNSTError(f"{path}: a Lightning checkpoint without a fastnst transform net")
        return dict(arch), state, lightning_meta(hparams, payload.get("global_step"))
    raise FastNSTError(f"{path}: not a fastnst or Lightning checkpoint")


def _bundled_with_hash(expected: str, name: str | None) -> Path | None:
    """The bundled style image whose SHA-256 is `expected`: the one called `name` first, then
    any other (a model may be named apart from its style file)."""
    named = bundled_style(name) if name else None
    others = sorted(p for p in STYLES_DIR.iterdir() if p.is_file() and p != named) \
        if STYLES_DIR.is_dir() else []
    for candidate in ([named] if named else []) + others:
        if file_sha256(candidate) == expected:
            return candidate
    return None


def recorded_style(meta: dict[str, Any]) -> Path | None:
    """The style image a model was trained on, if found here, else None.

    With a recorded SHA-256 (meta["style_sha256"]), only a file of that hash: first the
    package's bundled styles (shipped models are trained on bundled files, so this never
    depends on a folder outside the installed package), then the path the training config
    names. Without a hash (old files), the config's path if it exists. A config "style" that
    is not a path (a description) or names a missing file is skipped.
    """
    config = meta.get("config")
    expected = meta.get("style_sha256")
    name = str(meta["style"]) if meta.get("style") else None
    if expected is not None:
        bundled = _bundled_with_hash(str(expected), name)
        if bundled is not None:
            return bundled
    recorded = config.get("style") if isinstance(config, dict) else None
    # One path (fastnst <= 0.2) or a list of them (one per style of a multi-style model).
    paths = [recorded] if isinstance(recorded, str) else \
        list(recorded) if isinstance(recorded, (list, tuple)) else []
    paths = [path for path in paths if isinstance(path, str) and path]
    if len(paths) > 1:  # several styles: without a hash, only the one of this style's name
        paths = [path for path in paths if expected is not None or Path(path).stem == name]
    for path in paths:
        candidate = Path(path)
        try:
            if candidate.is_file() and (expected is None or file_sha256(candidate) == expected):
                return candidate
        except (OSError, FastNSTError):  # unreadable, or a name too long to be a path
            continue
    return None


def selected_meta(meta: dict[str, Any], mix: dict[str, float]) -> dict[str, Any]:
    """A multi-style model's metadata narrowed to one style or mix: "style" (the name, or
    'a=0.5,b=0.5'), and for one style its "style_sha256" and quality report "eval"."""
    per_style = meta.get("styles", {})
    if len(mix) == 1:
        (name,) = mix
        own = per_style.get(name, {})
        return {**meta, "style": name, "style_sha256": own.get("sha256"),
                "eval": own.get("eval"), "selected": mix}
    label = ",".join(f"{name}={weight:g}" for name, weight in mix.items())
    return {**meta, "style": label, "style_sha256": None, "eval": None, "selected": mix}


def load_model(spec: str | Path | ModelSpec) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the transform net from a slim or Lightning checkpoint (detected by content).

    spec: a path or bare model name, optionally with `:STYLE` or `:A=W,B=W` for a style or a
    mix of a multi-style model (see resolve_spec), or a ModelSpec already resolved; a
    selection gives a plain net of that style
    (fastnst.models.johnson.select_style) and its metadata (selected_meta). Returns (net in
    eval mode on CPU, float32 weights, metadata dict).
    """
    path, selection = resolve_spec(spec)
    arch, state, meta = _arch_and_state(_read(path), path)
    try:
        net = build_net(arch)
    except FastNSTError as err:
        raise FastNSTError(f"{path}: {err}") from None
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        raise FastNSTError(f"{path}: weights do not fit the {arch.get('name', 'johnson')} net "
                           f"({first_line(err)})") from None
    net = net.float().eval()
    if selection is not None:
        styles = tuple(getattr(net, "styles", ()))
        if not styles:
            raise FastNSTError(f"{path} has one style; ':{selection}' picks a style of a "
                               "multi-style model")
        mix = parse_style_mix(selection, styles)
        net, meta = select_style(net, mix), selected_meta(meta, mix)  # type: ignore[arg-type]
    return net, meta


def require_one_style(net: nn.Module, model: str | Path) -> None:
    """FastNSTError unless `net` is a single-style net (a multi-style model needs a style)."""
    styles = tuple(getattr(net, "styles", ()))
    if styles:
        raise FastNSTError(
            f"{model} is a multi-style model: choose a style with {model}:STYLE or mix "
            f"styles with {model}:{styles[0]}=0.5,{styles[1]}=0.5 (styles: {', '.join(styles)})")
