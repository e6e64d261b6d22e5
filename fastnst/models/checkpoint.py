"""The versioned inference-weights file, and loading a model from it or a Lightning checkpoint.

Slim file: {"format": "fastnst.transformer", "format_version": 2, "arch": {"name": ..., ...},
"state_dict": CPU tensors without "_orig_mod."/"module." prefixes, "meta": {...}}.
Version 1 (fastnst 0.1) had no architecture name; it still loads (as "johnson").
Every file is read with torch.load(weights_only=True): no arbitrary unpickling.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fastnst import __version__
from fastnst.core.assets import SHIPPED_MODELS_DIR, bundled_style
from fastnst.core.errors import FastNSTError, first_line
from fastnst.core.files import atomic_output
from fastnst.models.registry import build_net

FORMAT = "fastnst.transformer"
FORMAT_VERSION = 2
# Lightning checkpoints keep the net under this attribute of the LightningModule.
LIGHTNING_PREFIX = "transformer."
# torch.compile and DDP wrap the net and prefix its keys; only a leading prefix is a wrapper.
_WRAPPER_PREFIXES = ("_orig_mod.", "module.")
MODEL_SUFFIX = ".ckpt"
CHECKPOINTS_ENV = "FASTNST_CHECKPOINTS"


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

    $FASTNST_CHECKPOINTS (one or more folders joined by os.pathsep), ./checkpoints, and the
    shipped models inside the installed package.
    """
    env = os.environ.get(CHECKPOINTS_ENV, "")
    candidates = [Path(part) for part in env.split(os.pathsep) if part]
    candidates += [Path("checkpoints"), SHIPPED_MODELS_DIR]
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


def _read(path: Path) -> Any:
    if not path.is_file():
        raise FastNSTError(f"no such checkpoint: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # zip/pickle/unpickling-policy errors all mean "not ours"
        raise FastNSTError(
            f"{path}: not a fastnst or Lightning checkpoint ({first_line(err)})") from None


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


def recorded_style(meta: dict[str, Any]) -> Path | None:
    """The style image a model was trained on, if found here: the path its training config
    names, else (only when a hash is recorded) a bundled style of its recorded name; when a
    hash is recorded, the file must match it."""
    config = meta.get("config")
    expected = meta.get("style_sha256")
    candidates: list[Path] = []
    if isinstance(config, dict) and config.get("style"):
        candidates.append(Path(str(config["style"])))
    bundled = bundled_style(str(meta["style"])) if meta.get("style") else None
    if bundled is not None and expected is not None:
        candidates.append(bundled)
    for candidate in candidates:
        if candidate.is_file() and (expected is None or file_sha256(candidate) == expected):
            return candidate
    return None


def load_model(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the transform net from a slim or Lightning checkpoint (detected by content).

    path may be a bare model name (see resolve_model). Returns (net in eval mode on CPU, float32
    weights, metadata dict).
    """
    path = resolve_model(path)
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
    return net.float().eval(), meta
