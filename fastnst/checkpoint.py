"""The versioned inference-weights file, and loading a model from it or a Lightning checkpoint.

Slim file: {"format": "fastnst.transformer", "format_version": 1, "arch": {...},
"state_dict": CPU tensors without "_orig_mod."/"module." prefixes, "meta": {...}}.
Every file is read with torch.load(weights_only=True): no arbitrary unpickling.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from fastnst import __version__
from fastnst.errors import FastNSTError
from fastnst.image import atomic_output
from fastnst.transformer import TransformerNet

FORMAT = "fastnst.transformer"
FORMAT_VERSION = 1
# Lightning checkpoints keep the net under this attribute of the LightningModule.
LIGHTNING_PREFIX = "transformer."
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")
MODEL_SUFFIX = ".ckpt"
CHECKPOINTS_ENV = "FASTNST_CHECKPOINTS"


def model_search_dirs() -> list[Path]:
    """Folders searched for bare model names, in order, without duplicates.

    $FASTNST_CHECKPOINTS (one or more folders joined by os.pathsep), ./checkpoints, and the
    `checkpoints/` folder beside the package (the repository's shipped styles in an editable
    install).
    """
    env = os.environ.get(CHECKPOINTS_ENV, "")
    candidates = [Path(part) for part in env.split(os.pathsep) if part]
    candidates += [Path("checkpoints"), Path(__file__).resolve().parent.parent / "checkpoints"]
    unique: dict[Path, Path] = {}
    for folder in candidates:
        unique.setdefault(folder.resolve(), folder)
    return list(unique.values())


def resolve_model(name_or_path: str | Path) -> Path:
    """Turn a bare model name (`starry_night`) into `<dir>/starry_night.ckpt`; paths pass through.

    A bare name has no path separator and no suffix and is not an existing file; it is looked
    up in model_search_dirs(), first match wins. Raises FastNSTError naming the folders searched
    and the model names they hold when nothing matches.
    """
    text = str(name_or_path)
    path = Path(text)
    is_bare = not any(sep in text for sep in ("/", os.sep)) and not path.suffix
    if not is_bare or path.is_file():
        return path
    folders = model_search_dirs()
    for folder in folders:
        candidate = folder / f"{text}{MODEL_SUFFIX}"
        if candidate.is_file():
            return candidate
    available = sorted({p.stem for folder in folders if folder.is_dir()
                        for p in folder.glob(f"*{MODEL_SUFFIX}")})
    raise FastNSTError(
        f"no model named {text!r} (looked for {text}{MODEL_SUFFIX} in "
        f"{', '.join(str(folder) for folder in folders)}; "
        f"available: {', '.join(available) if available else 'none'}; "
        f"set ${CHECKPOINTS_ENV} or give a path)")


def clean_state_dict(state: dict[str, torch.Tensor], prefix: str = "") -> dict[str, torch.Tensor]:
    """Keep keys under `prefix` (removed), strip torch.compile/DDP wrappers, move to CPU."""
    cleaned = {}
    for key, value in state.items():
        if not key.startswith(prefix):
            continue
        key = key[len(prefix):]
        for wrapper in _WRAPPER_PREFIXES:
            key = key.replace(wrapper, "")
        cleaned[key] = value.detach().cpu().clone()
    return cleaned


def save_model(net: TransformerNet, path: str | Path, meta: dict[str, Any] | None = None,
               half: bool = False) -> Path:
    """Write the slim checkpoint atomically (temp file + rename); returns the path.

    half stores the weights as float16 (half the file size; loading casts back to float32).
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
        "arch": dict(net.arch),
        "state_dict": state,
        "meta": {"fastnst_version": __version__, "weights_dtype": "float16" if half else "float32",
                 **(meta or {})},
    }
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def _read(path: Path) -> Any:
    if not path.is_file():
        raise FastNSTError(f"no such checkpoint: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip/pickle/unpickling-policy errors all mean "not ours"
        first_line = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise FastNSTError(
            f"{path}: not a fastnst or Lightning checkpoint ({first_line[:160]})") from None


def _arch_and_state(payload: Any, path: Path) -> tuple[dict[str, Any], dict[str, torch.Tensor],
                                                       dict[str, Any]]:
    if isinstance(payload, dict) and payload.get("format") == FORMAT:
        if payload.get("format_version", 0) > FORMAT_VERSION:
            raise FastNSTError(f"{path}: made by a newer fastnst (format version "
                               f"{payload['format_version']}); upgrade fastnst")
        return payload["arch"], payload["state_dict"], payload.get("meta", {})
    if isinstance(payload, dict) and "state_dict" in payload and "hyper_parameters" in payload:
        hparams = payload["hyper_parameters"]
        arch = {"width": float(hparams.get("width", 1.0)),
                "num_residual": int(hparams.get("num_residual", 5))}
        state = clean_state_dict(payload["state_dict"], LIGHTNING_PREFIX)
        if not state:
            raise FastNSTError(f"{path}: a Lightning checkpoint without a fastnst transform net")
        meta = {"style": hparams.get("style"), "steps": payload.get("global_step")}
        return arch, state, meta
    raise FastNSTError(f"{path}: not a fastnst or Lightning checkpoint")


def recorded_style(meta: dict[str, Any]) -> Path | None:
    """The style image a slim checkpoint's training config names, if that file exists here."""
    config = meta.get("config")
    recorded = config.get("style") if isinstance(config, dict) else None
    return Path(recorded) if recorded and Path(recorded).is_file() else None


def load_model(path: str | Path) -> tuple[TransformerNet, dict[str, Any]]:
    """Rebuild the transform net from a slim or Lightning checkpoint (detected by content).

    path may be a bare model name (see resolve_model). Returns (net in eval mode on CPU,
    metadata dict).
    """
    path = resolve_model(path)
    arch, state, meta = _arch_and_state(_read(path), path)
    try:
        net = TransformerNet(**arch)
        net.load_state_dict(state)
    except (RuntimeError, TypeError) as err:
        detail = str(err).strip().splitlines()[0][:160]
        raise FastNSTError(f"{path}: weights do not fit the transform net ({detail})") from None
    return net.eval(), meta
