"""Config dataclasses' machinery: declaring options once, resolving defaults < YAML < flags.

Each command's settings are one frozen dataclass (in the package of its feature, e.g.
`fastnst.training.config.TrainConfig`). Every field is declared with `option()`, which
holds its default, help text, metavar and choices: the command-line flags are generated
from them (fastnst.core.flags) and configs/default.yaml is checked against them, so each
default lives in one place.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml

from fastnst.core.assets import CONFIGS_DIR
from fastnst.core.errors import FastNSTError, ParameterError

C = TypeVar("C")


def option(default: Any, help: str, *, metavar: str | None = None,
           choices: tuple[str, ...] | None = None, flags: tuple[str, ...] | None = None,
           group: str | None = None, negatable: bool = False, zero_is_none: bool = False,
           nargs: str | None = None, parse: Callable[[str], Any] | None = None,
           cli: bool = True, show_default: bool = True) -> Any:
    """A config field with everything its command-line flag needs.

    help: one phrase; the default is appended unless show_default is False.
    flags: option strings (default `--field-name`); a field whose flags are not dashed is a
    positional argument. negatable: booleans get `--x / --no-x` (else `--x` sets True).
    zero_is_none: 0 means None (e.g. "--tile 0: no tiling"). nargs: '+' for space-separated
    lists (tuples are otherwise comma-separated). parse: str -> value for special syntaxes.
    cli: False keeps a field out of the parser (set by code or YAML only).
    """
    metadata = {"help": help, "metavar": metavar, "choices": choices, "flags": flags,
                "group": group, "negatable": negatable, "zero_is_none": zero_is_none,
                "nargs": nargs, "parse": parse, "cli": cli, "show_default": show_default}
    return dataclasses.field(default=default, metadata=metadata)


def declared(cls: type[Any], name: str) -> Any:
    """Field `name` of config class `cls`, declared again for another config with the same
    default, help, flags and choices (so they are written once, in `cls`)."""
    field = cls.__dataclass_fields__[name]
    return dataclasses.field(default=field.default, metadata=field.metadata)


def check_choice(config: Any, name: str) -> None:
    """Raise ParameterError if field `name` of `config` is not one of its declared choices."""
    field = next(f for f in dataclasses.fields(config) if f.name == name)
    choices = field.metadata.get("choices")
    value = getattr(config, name)
    if choices and value not in choices:
        raise ParameterError(name, f"must be one of {', '.join(map(str, choices))}, "
                                   f"not {value!r}")


def check_choices(config: Any) -> None:
    """check_choice for every field that declares choices."""
    for field in dataclasses.fields(config):
        if field.metadata.get("choices"):
            check_choice(config, field.name)


def _coerce(value: Any, annotation: Any, field: dataclasses.Field[Any]) -> Any:
    """Turn YAML/CLI values into the field's type: strings are parsed, lists become tuples,
    ints become floats; 'none'/'null' (and 0 for zero_is_none fields) become None."""
    parse = field.metadata.get("parse")
    if parse is not None and isinstance(value, str):
        return parse(value)
    if value is None:
        return None
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
        if isinstance(value, str) and value.strip().lower() in ("none", "null"):
            return None
        coerced = _coerce(value, options[0], field)
        if field.metadata.get("zero_is_none") and coerced == 0:
            return None
        return coerced
    if origin is tuple:
        if isinstance(value, str):
            items: list[Any] = [part for part in value.split(",") if part.strip()]
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            items = [value]
        item_type = typing.get_args(annotation)[0]
        return tuple(_coerce(v.strip() if isinstance(v, str) else v, item_type, field)
                     for v in items)
    if annotation is bool:
        if isinstance(value, str):
            lowered = value.strip().lower()
            if lowered not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return lowered in ("true", "1", "yes")
        return bool(value)
    if annotation is float and not isinstance(value, bool):
        return float(value)
    if annotation is int and not isinstance(value, bool):
        if isinstance(value, float) and not value.is_integer():
            raise ValueError(value)
        return int(value)
    if annotation is str and not isinstance(value, str):
        return str(value)
    return value


def config_file(path: str) -> Path:
    """A --config argument as a file: a path, or a bundled config's bare name (`debug`)."""
    candidate = Path(path)
    if not candidate.is_file() and candidate.suffix == "" and "/" not in path:
        bundled = CONFIGS_DIR / f"{path}.yaml"
        if bundled.is_file():
            return bundled
    return candidate


def read_yaml(path: str) -> dict[str, Any]:
    """A config file's mapping; FastNSTError for a missing, unreadable or non-mapping file."""
    resolved = config_file(path)
    try:
        loaded = yaml.safe_load(resolved.read_text()) or {}
    except FileNotFoundError:
        raise FastNSTError(f"config file not found: {path}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as err:
        raise FastNSTError(f"cannot read config {path}: {str(err).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise FastNSTError(f"config {path} must be a mapping of option: value")
    return loaded


def load_config(cls: type[C], files: list[str] | tuple[str, ...] = (),
                overrides: dict[str, Any] | None = None,
                environment: dict[str, Any] | None = None) -> C:
    """Build `cls` from its defaults, then each YAML file in order, then `environment`
    (settings from environment variables), then `overrides` (flags).

    Unknown keys are rejected with a "did you mean" hint; YAML keys may use '-' or '_'.
    """
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    sources = [(path, read_yaml(path)) for path in files]
    sources.append(("the environment", environment or {}))
    sources.append(("command line", overrides or {}))
    for origin, mapping in sources:
        for raw_key, value in mapping.items():
            key = str(raw_key).replace("-", "_")
            if key not in fields:
                close = difflib.get_close_matches(key, list(fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise FastNSTError(f"unknown option {raw_key!r} in {origin}{hint}")
            try:
                values[key] = _coerce(value, hints[key], fields[key])
            except (TypeError, ValueError):
                flag = f"--{key.replace('_', '-')}"
                raise FastNSTError(f"bad value {value!r} for {flag} in {origin}") from None
    return cls(**values)


def config_to_dict(config: Any) -> dict[str, Any]:
    """Plain-data view of a config (tuples become lists) for YAML files and checkpoints."""
    out = {}
    for key, value in dataclasses.asdict(config).items():
        out[key] = list(value) if isinstance(value, tuple) else value
    return out


def defaults_dict(cls: type[Any]) -> dict[str, Any]:
    """The plain-data defaults of a config class, field by field (required fields included)."""
    return {f.name: list(f.default) if isinstance(f.default, tuple) else f.default
            for f in dataclasses.fields(cls)}


def save_config(config: Any, path: Path) -> None:
    """Write the resolved config as YAML (the run folder keeps it for reproducibility)."""
    path.write_text(yaml.safe_dump(config_to_dict(config), sort_keys=False))
