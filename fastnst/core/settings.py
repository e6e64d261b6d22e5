"""Config dataclasses' machinery: declaring options once, resolving defaults < YAML < flags.

Each command's settings are one frozen dataclass (in the package of its feature, e.g.
`fastnst.training.train_config.TrainConfig`). Every field is declared with `option()`, which
holds its default, help text, metavar and choices: the command-line flags are generated
from them (fastnst.core.flags) and configs/default.yaml is checked against them, so each
default lives in one place.

The dataclasses are `pydantic.dataclasses.dataclass`es (`settings()`): their types say what
a value may be (`Literal` choices, `Annotated[int, Ge(1)]` bounds, `ZeroIsNone[int]`,
`OrNone[...]`, `Commas[...]`) and pydantic converts and checks the values of every source
(code, YAML, environment, flags); pydantic-settings builds the parsers (fastnst.core.flags).
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import types
import typing
from pathlib import Path
from typing import Annotated, Any, TypeVar

import pydantic
import yaml
from annotated_types import Ge, Gt, Le, Lt
from pydantic import BeforeValidator

from fastnst.core.assets import CONFIGS_DIR
from fastnst.core.errors import FastNSTError, ParameterError

C = TypeVar("C")
T = TypeVar("T")

# Pydantic settings of every migrated config: frozen; YAML numbers are accepted for string
# options (`devices: 2`, `precision: 16`); unknown keys are refused (load_config hints first).
SETTINGS = pydantic.ConfigDict(coerce_numbers_to_str=True, extra="forbid",
                               arbitrary_types_allowed=True)


class InvalidValue(ParameterError):
    """A config value pydantic refused: a ParameterError in the library's words, which name
    the field ("tile must be at least 16 px"; API and web users see that), while `as_flag()`
    names the command's flag ("--tile must be at least 16 px"). load_config adds the source
    that gave the value."""

    def __init__(self, cls: type[Any], error: Any, values: dict[str, Any],
                 origins: dict[str, str] | None = None) -> None:
        self.cls, self.error, self.values = cls, error, values
        name = str(error["loc"][0]) if error["loc"] else ""
        message = _one_line(cls, error, values, origins or {}, name)
        self.flagged = _one_line(cls, error, values, origins or {}, flag_of(cls, name))
        super().__init__(name, message.removeprefix(f"{name} "))
        self.args = (message,)  # "bad value 'x' for lr" does not start with the name

    def as_flag(self) -> str:
        return self.flagged


def settings(cls: type[C]) -> type[C]:
    """Declare a config or a library's parameters: a frozen pydantic dataclass whose values are
    converted and checked by pydantic (from code, YAML, the environment and flags alike); a
    refused value raises InvalidValue, a ParameterError in the field's name that commands
    print with the flag's."""
    config = pydantic.dataclasses.dataclass(frozen=True, config=SETTINGS)(cls)
    validate = config.__init__

    @functools.wraps(validate)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            validate(self, *args, **kwargs)
        except pydantic.ValidationError as err:
            raise InvalidValue(config, err.errors()[0], kwargs) from None

    config.__init__ = __init__  # type: ignore[method-assign]
    return config  # type: ignore[return-value]


def _none_word(value: Any) -> Any:
    """'none' / 'null' (any case) mean None, as YAML's null does."""
    if isinstance(value, str) and value.strip().lower() in ("none", "null"):
        return None
    return value


def _zero_or_none_word(value: Any) -> Any:
    value = _none_word(value)
    if not isinstance(value, bool) and isinstance(value, (int, float, str)):
        try:
            if float(value) == 0:
                return None
        except ValueError:
            pass
    return value


def _comma_list(value: Any) -> Any:
    """'a,b' -> ['a', 'b'] (a YAML string or a value set in code); lists pass through."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


# An option that may be None: the words none / null mean None too.
OrNone = Annotated[T | None, BeforeValidator(_none_word)]
# An option where 0 means None ("--tile 0: no tiling"), and so do none / null.
ZeroIsNone = Annotated[T | None, BeforeValidator(_zero_or_none_word)]
# A tuple option written comma-separated on the command line and in YAML strings.
Commas = Annotated[tuple[T, ...], BeforeValidator(_comma_list)]


def option(default: Any, help: str, *, metavar: str | None = None,
           flags: tuple[str, ...] | None = None, group: str | None = None,
           negatable: bool = False, nargs: str | None = None, cli: bool = True,
           show_default: bool = True, note: str | None = None) -> Any:
    """A config field's default and what its command-line flag shows.

    The field's type says which values it takes (pydantic checks them: `Literal` choices,
    `Annotated[int, Ge(1)]` bounds, `ZeroIsNone`, `OrNone`, `Commas`); this says the rest.
    help: one phrase; the default is appended unless show_default is False.
    flags: option strings (default `--field-name`); a field whose flags are not dashed is a
    positional argument. negatable: booleans get `--x / --no-x` (else `--x` sets True).
    nargs: '+' for space-separated lists (file names; tuples are otherwise comma-separated).
    cli: False keeps a field out of the parser (set by code or YAML only).
    note: why the bound is what it is, said after a refused value's range ("auto_masks must
    be 1 to 9 (one colour a region)").
    """
    metadata = {"help": help, "metavar": metavar, "flags": flags, "group": group,
                "negatable": negatable, "nargs": nargs, "cli": cli,
                "show_default": show_default, "note": note}
    return dataclasses.field(default=default, metadata=metadata)


def declared(cls: type[Any], name: str) -> Any:
    """Field `name` of config class `cls`, declared again for another config with the same
    default, help, flags and choices (so they are written once, in `cls`)."""
    field = cls.__dataclass_fields__[name]
    return dataclasses.field(default=field.default, metadata=field.metadata)


def params_of(config: Any, params_cls: type[C]) -> C:
    """The library parameters `params_cls` of a command config that declares each of their
    fields (with `declared`), built from the config's values: the library's own checks run
    (ParameterError in its words; the command names the flag)."""
    return params_cls(**{field.name: getattr(config, field.name)
                         for field in dataclasses.fields(params_cls)})  # type: ignore[arg-type]


def adopt_params(config: Any, params: Any) -> None:
    """Write the values `params` resolved (defaults filled in by the library's rules) back
    onto the frozen command `config` that declares the same fields."""
    for field in dataclasses.fields(params):
        object.__setattr__(config, field.name, getattr(params, field.name))


def require(config: Any, names: tuple[str, ...]) -> None:
    """FastNSTError '--NAME is required' for the first of `names` that `config` leaves empty:
    required, but from any source (a YAML file may name them), so checked once all are read."""
    for name in names:
        if not getattr(config, name):
            raise FastNSTError(f"--{name.replace('_', '-')} is required")


def _literal_choices(annotation: Any) -> tuple[Any, ...] | None:
    """The values of a Literal annotation (inside Annotated / Optional), else None."""
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        for option_type in typing.get_args(annotation):
            found = _literal_choices(option_type)
            if found:
                return found
        return None
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)
    return None


def field_choices(cls: type[Any], name: str) -> tuple[Any, ...] | None:
    """A field's choices: its `Literal` type's values."""
    return _literal_choices(typing.get_type_hints(cls, include_extras=True)[name])


def flag_of(cls: type[Any], name: str) -> str:
    """The flag that sets field `name` (its long option string), for messages."""
    field = cls.__dataclass_fields__.get(name)
    flags = field.metadata.get("flags") if field is not None else None
    return (flags or (f"--{name.replace('_', '-')}",))[-1]


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
    """Build `cls` (a `settings()` config) from its defaults, then each YAML file in order,
    then `environment` (settings from environment variables), then `overrides` (flags).

    Unknown keys are rejected with a "did you mean" hint; YAML keys may use '-' or '_'.
    Pydantic converts and checks the values; a bad one is reported with its flag and the
    source that gave it (InvalidValue).
    """
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    sources = [(path, read_yaml(path)) for path in files]
    sources.append(("the environment", environment or {}))
    sources.append(("command line", overrides or {}))
    for origin, mapping in sources:
        for raw_key, value in mapping.items():
            key = str(raw_key).replace("-", "_")
            if key not in fields:
                close = difflib.get_close_matches(key, sorted(fields), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise FastNSTError(f"unknown option {raw_key!r} in {origin}{hint}")
            values[key] = value
            origins[key] = origin
    try:
        return cls(**values)
    except InvalidValue as err:  # say where the value came from
        raise InvalidValue(err.cls, err.error, values, origins) from None


def _number(value: Any) -> str:
    """A bound as a user writes it (0, not 0.0)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _one_line(cls: type[Any], error: Any, values: dict[str, Any], origins: dict[str, str],
              subject: str) -> str:
    """A pydantic error as the one line a user reads, about `subject` (the field's name for
    the library's words, its flag for a command's): the value and its source; bounds and
    choices say what is allowed (and the option's note why)."""
    name = str(error["loc"][0]) if error["loc"] else ""
    context = error.get("ctx") or {}
    kind = error["type"]
    field = cls.__dataclass_fields__.get(name)
    note = field.metadata.get("note") if field is not None else None
    why = f" ({note})" if note else ""
    if kind == "literal_error":
        choices = field_choices(cls, name) or ()
        return (f"{subject} must be one of {', '.join(map(str, choices))}, "
                f"not {values.get(name)!r}{why}")
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        bounds = {type(m).__name__: m for m in cls.__pydantic_fields__[name].metadata
                  if isinstance(m, (Ge, Gt, Le, Lt))}
        if {"Ge", "Le"} <= set(bounds):
            return (f"{subject} must be {_number(bounds['Ge'].ge)} to "
                    f"{_number(bounds['Le'].le)}{why}")
        if len(bounds) == 2:  # an open end: interval notation
            low, high = (bounds.get("Ge") or bounds["Gt"]), (bounds.get("Le") or bounds["Lt"])
            return (f"{subject} must be in {'[' if isinstance(low, Ge) else '('}"
                    f"{_number(getattr(low, 'ge', getattr(low, 'gt', None)))}, "
                    f"{_number(getattr(high, 'le', getattr(high, 'lt', None)))}"
                    f"{']' if isinstance(high, Le) else ')'}{why}")
        bound = _number(next(iter(context.values())))
        metavar = field.metadata.get("metavar") if field is not None else None
        if kind == "greater_than_equal" and metavar == "PX":
            return f"{subject} must be at least {bound} px{why}"
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                "less_than": "<"}[kind]
        return f"{subject} must be {sign} {bound}{why}"
    where = f" in {origins[name]}" if name in origins else ""
    if name in values:
        value = values[name]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            value = ",".join(value)  # a list flag's items, as they were typed
        return f"bad value {value!r} for {subject}{where}"
    return f"{subject}: {error['msg']}"


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
