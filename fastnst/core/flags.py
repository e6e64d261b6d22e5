"""Command-line parsers from config classes (`fastnst.core.settings`), by pydantic-settings.

pydantic-settings' CLI source adds one argument per field to a OneLineParser (kebab-case
flags, `--x / --no-x` booleans, comma-separated lists, positionals) and reads the parsed
values; `_describe` only puts each option()'s help (with its default), metavar, choices, short
flags and group on its argument, so --help and the README tables read as the user types.
Every flag defaults to "not given", so YAML files are only overridden by flags the user typed;
`load_config` then converts and checks the values with pydantic, as it does YAML's.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
import types
import typing
import warnings
from typing import Any, NoReturn

from pydantic import create_model
from pydantic_settings import BaseSettings, CliPositionalArg, CliSettingsSource, CliVariadicArg

from fastnst.core.settings import field_choices


class OneLineParser(argparse.ArgumentParser):
    """argparse with usage mistakes reported as one line (`prog: error: ...`), exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _is_bool(annotation: Any) -> bool:
    """bool or bool | None."""
    return annotation is bool or (typing.get_origin(annotation) in (typing.Union, types.UnionType)
                                  and set(typing.get_args(annotation)) == {bool, type(None)})


def format_default(value: Any) -> str:
    """A default as the user types it: tuples comma-joined, floats in short form."""
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):  # (width, height) pairs
            return ",".join("x".join(str(v) for v in pair) for pair in value)
        return ",".join(format_default(v) for v in value)
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def flag_help(field: dataclasses.Field[Any]) -> str:
    """The field's help text with its default appended (when it has a meaningful one)."""
    text = field.metadata["help"]
    default = field.default
    if not field.metadata.get("show_default", True) or default in (None, "", ()):
        return text
    return f"{text} (default {format_default(default)})"


def flag_names(field: dataclasses.Field[Any]) -> tuple[str, ...]:
    """The field's option strings, e.g. ('-o', '--output'), or (name,) for a positional."""
    return field.metadata.get("flags") or (f"--{field.name.replace('_', '-')}",)


def cli_fields(cls: type[Any]) -> list[dataclasses.Field[Any]]:
    """The fields of a config class that have a command-line flag."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("cli", True)
            and "help" in f.metadata]


def build_parser(cls: type[Any], prog: str, description: str, config_files: bool = False,
                 subcommands: dict[str, tuple[type[Any], str]] | None = None) -> OneLineParser:
    """An argparse parser with one argument per `cli_fields(cls)`, grouped by their `group`.

    config_files: add `--config YAML` (repeatable, applied in order before the flags).
    subcommands: {name: (config class, help)}: `PROG NAME ...` takes that class's flags
    instead (`fastnst-web worker`, `fastnst-eval video`); parse_flags returns the name given
    as "subcommand".
    """
    parser = OneLineParser(prog=prog, description=description,
                           argument_default=argparse.SUPPRESS)
    if config_files:
        parser.add_argument("--config", action="append", default=[], metavar="YAML",
                            help="config file(s) applied in order, or a bundled config's "
                                 "name (debug, fast, quick, photoreal); flags override them")
    if subcommands:
        choices = parser.add_subparsers(dest="subcommand", title="subcommands",
                                        metavar="|".join(subcommands),
                                        help="; ".join(text for _, text in subcommands.values()))
        for name, (sub_cls, text) in subcommands.items():
            _settings_parser(sub_cls, choices.add_parser(name, help=text, description=text,
                                                         argument_default=argparse.SUPPRESS))
    return _settings_parser(cls, parser)


class _LastList(argparse.Action):
    """A comma-separated list flag: given twice, the last one counts (as any other flag, not
    pydantic-settings' append); stored as the one-item list its CLI source splits."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        setattr(namespace, self.dest, [values])


def _settings_parser(cls: type[Any], parser: OneLineParser) -> OneLineParser:
    """Let pydantic-settings add `cls`'s flags to `parser`; parse_flags then reads them with
    its CLI source (kept on the parser as `settings_source`)."""
    fields = {field.name: field for field in cli_fields(cls)}
    groups: dict[str, Any] = {}

    def add_argument(context: Any, *names: str, **kwargs: Any) -> argparse.Action:
        field = fields[kwargs.get("dest", names[0])]
        return _describe(parser, groups, cls, field, names, kwargs)

    parser.settings_source = CliSettingsSource(  # type: ignore[attr-defined]
        _flags_model(cls), root_parser=parser, add_argument_method=add_argument,
        cli_kebab_case=True, cli_implicit_flags=True, case_sensitive=True)
    return parser


def _flags_model(cls: type[Any]) -> type[BaseSettings]:
    """The settings model pydantic-settings reads `cls`'s flags from: its command-line fields,
    typed as in `cls`; a field whose option() names no dashed flag is a positional argument,
    one with nargs a space-separated list (`--style A B`).

    Built from the pydantic fields rather than by subclassing `cls` (as CliApp does): a
    subclass of a pydantic dataclass loses the fields' metadata, CliPositionalArg included
    (pydantic-settings 2.16).
    """
    fields: dict[str, Any] = {}
    for field in cli_fields(cls):
        info = copy.copy(cls.__pydantic_fields__[field.name])
        if not flag_names(field)[0].startswith("-"):
            info.metadata = [*info.metadata, *CliPositionalArg.__metadata__]
        elif field.metadata.get("nargs"):
            info.metadata = [*info.metadata, *CliVariadicArg.__metadata__]
        fields[field.name] = (info.annotation, info)
    with warnings.catch_warnings():
        # A flag named like a BaseModel method (fastnst-info --json) shadows it harmlessly:
        # this model is only read for its fields, never instantiated.
        warnings.filterwarnings("ignore", message="Field name .* shadows an attribute")
        return create_model(f"{cls.__name__}Flags", __base__=BaseSettings,
                            __doc__=cls.__doc__, **fields)


def _describe(parser: OneLineParser, groups: dict[str, Any], cls: type[Any],
              field: dataclasses.Field[Any], names: tuple[str, ...],
              kwargs: dict[str, Any]) -> argparse.Action:
    """Add one pydantic-settings argument with the option()'s help, metavar, choices, short
    flags and group (the flag's name, action and parsing stay the library's)."""
    meta = field.metadata
    kwargs["help"] = flag_help(field)
    context: Any = parser
    if meta.get("group"):
        if meta["group"] not in groups:
            groups[meta["group"]] = parser.add_argument_group(meta["group"])
        context = groups[meta["group"]]
    if _is_bool(typing.get_type_hints(cls)[field.name]):  # bool | None too: --x / --no-x
        kwargs.pop("metavar", None)
        kwargs["action"] = (argparse.BooleanOptionalAction if meta.get("negatable")
                            else "store_true")
    if "metavar" in kwargs:
        kwargs["metavar"] = meta.get("metavar")
        choices = field_choices(cls, field.name)
        if choices:
            kwargs["choices"] = [str(choice) for choice in choices]
            kwargs["metavar"] = None
    if meta.get("nargs"):  # space-separated values, each taken as it is typed
        kwargs["nargs"] = meta["nargs"]
        kwargs.pop("action", None)
    elif not names[0].startswith("-"):  # one positional value: required, as it was
        kwargs.pop("nargs", None)
    elif kwargs.get("action") == "append":  # A,B,...: a later --x replaces an earlier one
        kwargs["action"] = _LastList
    if names and names[0].startswith("-") and meta.get("flags"):
        names = tuple(meta["flags"])
    return context.add_argument(*names, **kwargs)


def _nargs(parser: argparse.ArgumentParser, dest: str) -> bool:
    """Whether argument `dest` takes several space-separated values."""
    return any(action.dest == dest and action.nargs in ("+", "*") for action in parser._actions)


def parse_flags(parser: argparse.ArgumentParser, argv: typing.Sequence[str] | None
                ) -> tuple[list[str], dict[str, Any]]:
    """(config files, {field: value given on the command line}) from argv (sys.argv if None)."""
    given = vars(parser.parse_args(sys.argv[1:] if argv is None else list(argv)))
    files = given.pop("config", [])
    name = given.pop("subcommand", None)
    subcommand = {"subcommand": name} if name else {}
    if name:  # the subcommand's flags, read by its own source
        parser = parser._subparsers._group_actions[0].choices[name]  # type: ignore[union-attr]
        own = {action.dest for action in parser._actions}
        for dest in given:
            if dest not in own:
                parser.error(f"--{dest.replace('_', '-')} is not a flag of {parser.prog}")
    # Space-separated lists (file names) as argparse read them: the CLI source would split a
    # name with a comma in it.
    verbatim = {dest: given.pop(dest) for dest in list(given)
                if isinstance(given[dest], list) and _nargs(parser, dest)}
    source = parser.settings_source  # type: ignore[attr-defined]
    return list(files), {**source(parsed_args=given)(), **verbatim, **subcommand}
