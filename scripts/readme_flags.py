"""The README's flag tables, generated from the command parsers (`python scripts/readme_flags.py`).

Each table sits in README.md between `<!-- flags: COMMAND -->` and `<!-- /flags -->`;
`python scripts/readme_flags.py --write README.md` refreshes them and a test checks they match,
so the manual always lists every flag with its real default, and nothing else.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from collections.abc import Sequence
from pathlib import Path

from fastnst.cli import COMMANDS, program

_PIPE = "\\|"  # a | inside a table cell, code spans included (GitHub-flavoured markdown)
_BLOCK = re.compile(r"(<!-- flags: (\S+) -->\n)(.*?)(<!-- /flags -->)", re.S)


def command_parser(module: str) -> argparse.ArgumentParser:
    """The parser of `fastnst-<module>` (module as in COMMANDS)."""
    return importlib.import_module(f"fastnst.cli.{module}").COMMAND.parser()


def _usage(action: argparse.Action) -> str:
    if not action.option_strings:
        name = action.metavar or action.dest
        return f"`{name} ...`" if action.nargs == "+" else f"`{name}`"
    if isinstance(action, argparse.BooleanOptionalAction):
        return " / ".join(f"`{flag}`" for flag in action.option_strings)
    flags = ", ".join(action.option_strings)
    if action.nargs == 0:
        return f"`{flags}`"
    if action.choices:
        return f"`{flags} {_PIPE.join(map(str, action.choices))}`"
    metavar = action.metavar or action.dest.upper()
    return f"`{flags} {metavar}{' ...' if action.nargs == '+' else ''}`".replace("|", _PIPE)


def _rows(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    """One row per argument, the command's own first, then the grouped ones (shared option sets
    such as the perceptual loss's), each in the order they were added; a subcommand's rows
    start with its name (`prefix`)."""
    rows = []
    own = (parser._positionals, parser._optionals, parser._subparsers)
    for action in sorted(parser._actions, key=lambda action: action.container not in own):
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        text = (action.help or "").replace("|", _PIPE)
        usage = _usage(action).replace("`", f"`{prefix} ", 1) if prefix else _usage(action)
        rows.append(f"| {usage} | {text} |")
    return rows


def flag_table(module: str) -> str:
    """A markdown table of the command's arguments: usage and help (with its default); then
    each subcommand, with the arguments it has that the command's differ from."""
    parser = command_parser(module)
    own = _rows(parser)
    rows = ["| argument | meaning |", "| --- | --- |", *own]
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for choice in action._choices_actions:
            name, sub = choice.dest, action.choices[choice.dest]
            sub_rows = _rows(sub, name)
            shared = [row for row in sub_rows if row.replace(f"`{name} ", "`", 1) in own]
            if len(shared) == len(own):
                also = "; the flags above"
            else:
                flags = [re.sub(r"^\| `[^`]* (-[^ `]*).*", r"\1", row).rstrip(",")
                         for row in shared]
                also = f"; also {', '.join(flags)} as above" if flags else ""
            rows.append(f"| `{name}` | {(choice.help or '').replace('|', _PIPE)}{also} |")
            rows += [row for row in sub_rows if row not in shared]
    return "\n".join(rows) + "\n"


def refresh(readme: str) -> str:
    """README text with every flags block replaced by the generated table."""

    def table(match: re.Match[str]) -> str:
        name = match.group(2).removeprefix("fastnst-").replace("-", "_")
        if name not in COMMANDS:
            raise SystemExit(f"README names an unknown command in a flags block: {match.group(2)}")
        return match.group(1) + flag_table(name) + match.group(4)

    return _BLOCK.sub(table, readme)


def readme_blocks(readme: str) -> dict[str, str]:
    """{program: table text} of the flags blocks in a README."""
    return {match.group(2): match.group(3) for match in _BLOCK.finditer(readme)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python scripts/readme_flags.py", description=__doc__)
    parser.add_argument("--write", metavar="README", help="refresh the tables in this file")
    args = parser.parse_args(argv)
    if args.write:
        path = Path(args.write)
        path.write_text(refresh(path.read_text()))
        return 0
    for module in COMMANDS:
        print(f"<!-- flags: {program(module)} -->\n{flag_table(module)}<!-- /flags -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
