"""The README is the user's manual: its commands must be the real ones, its flag tables the
parsers' own (every flag, its default, nothing that does not exist)."""

from __future__ import annotations

import re

import pytest

from fastnst.cli.docs import COMMANDS, flag_table, program, readme_blocks
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("module", COMMANDS)
def test_flag_table_matches_the_parser(module: str) -> None:
    """Both directions: a flag missing from the README, a README flag the parser lacks, or a
    stale default all show up as a difference. Refresh with python -m fastnst.cli.docs --write
    README.md."""
    blocks = readme_blocks(README)
    assert program(module) in blocks, f"README.md has no flags block for {program(module)}"
    documented = blocks[program(module)].strip().splitlines()
    generated = flag_table(module).strip().splitlines()
    assert documented == generated


def _flags(table: str) -> set[str]:
    return set(re.findall(r"`(--[a-z][a-z0-9-]*)", table))


def test_the_check_would_see_a_missing_or_invented_flag() -> None:
    """The comparison above is not vacuous: tables name real flags, and a table with a row
    removed or a flag renamed differs from the generated one."""
    table = flag_table("stylize")
    assert {"--model", "--tile", "--backend", "--no-compile"} <= _flags(table)
    rows = table.strip().splitlines()
    assert rows[:-1] != rows  # dropping a row changes the table
    assert table.replace("--tile", "--tiles") != table


def test_console_scripts_match_the_documented_commands() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for module in COMMANDS:
        assert f'{program(module)} = "fastnst.cli.{module}:main"' in pyproject
        assert f"`{program(module)}`" in README
        assert (ROOT / "scripts" / f"{module}.py").read_text().count(f"fastnst.cli.{module}") == 1


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install_and_test = next(line for line in blocks[0].splitlines()
                            if line.strip().endswith("python -m pytest"))
    test_command = install_and_test.split("&& ", 2)[-1]  # after the venv step
    assert test_command == 'pip install -e ".[dev]" && python -m pytest'
    assert test_command in (ROOT / ".ci" / "run").read_text()
