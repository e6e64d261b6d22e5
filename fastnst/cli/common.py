"""What every command shares: its parser from a config class, and errors as one line."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.flags import OneLineParser, build_parser, parse_flags
from fastnst.core.settings import load_config

C = TypeVar("C")


def flag_message(err: FastNSTError) -> str:
    """A user mistake in a command's words: a library parameter's error names the flag that
    sets it (every command's flags are its parameters' names)."""
    return err.as_flag() if isinstance(err, ParameterError) else str(err)


def report_error(prog: str, err: FastNSTError) -> None:
    """Print a user mistake as the command's one stderr line (see flag_message)."""
    print(f"{prog}: error: {flag_message(err)}", file=sys.stderr)


def run(prog: str, body: Callable[[], int]) -> int:
    """Call body(); a FastNSTError becomes one stderr line and exit code 2."""
    try:
        return body()
    except FastNSTError as err:
        report_error(prog, err)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


class Command:
    """A command's parser (generated from its config class) and config resolution."""

    def __init__(self, prog: str, config_class: type[Any], description: str,
                 config_files: bool = False,
                 subcommands: dict[str, tuple[type[Any], str]] | None = None) -> None:
        self.prog = prog
        self.config_class = config_class
        self.description = description
        self.config_files = config_files
        self.subcommands = subcommands

    def parser(self) -> OneLineParser:
        return build_parser(self.config_class, self.prog, self.description, self.config_files,
                            self.subcommands)

    def flags(self, argv: Sequence[str] | None) -> tuple[list[str], dict[str, Any]]:
        """(config files, flags given) from argv; usage mistakes exit 2 with one line."""
        return parse_flags(self.parser(), argv)

    def config(self, files: list[str], overrides: dict[str, Any]) -> Any:
        """The resolved config: defaults < files < overrides; a "subcommand" in overrides
        picks its config class."""
        overrides = dict(overrides)
        name = overrides.pop("subcommand", None)
        config_class = self.subcommands[name][0] if name and self.subcommands else self.config_class
        return load_config(config_class, files, overrides)

    def main(self, argv: Sequence[str] | None, body: Callable[[Any], int],
             extra: dict[str, Any] | None = None) -> int:
        """Parse argv, resolve the config (with `extra` settings the code adds) and return
        body(config), mistakes in any step as one stderr line and exit code 2."""
        files, flags = self.flags(argv)
        prog = f"{self.prog} {flags['subcommand']}" if "subcommand" in flags else self.prog
        return run(prog, lambda: body(self.config(files, {**flags, **(extra or {})})))
