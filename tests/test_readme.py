"""The README is the user's manual: its commands must be the real ones, its flags complete."""

from __future__ import annotations

import argparse
import re

import pytest

from fastnst import cli
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()
PARSERS = {
    "fastnst-train": cli._train_parser, "fastnst-stylize": cli._stylize_parser,
    "fastnst-slow": cli._slow_parser, "fastnst-eval": cli._eval_parser,
    "fastnst-sheet": cli._sheet_parser, "fastnst-export": cli._export_parser,
    "fastnst-bench": cli._bench_parser, "fastnst-prepare-data": cli._prepare_data_parser,
}


@pytest.mark.parametrize("command", sorted(PARSERS))
def test_every_flag_is_documented(command: str) -> None:
    parser: argparse.ArgumentParser = PARSERS[command]()
    flags = {option for action in parser._actions for option in action.option_strings
             if option.startswith("--") and option != "--help"}
    missing = sorted(flag for flag in flags if not re.search(re.escape(flag) + r"\b", README))
    assert not missing, f"{command} flags missing from README.md: {missing}"


def test_console_scripts_match_the_documented_commands() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for command in PARSERS:
        assert f'{command} = "fastnst.cli:' in pyproject
        assert f"`{command}`" in README


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install_and_test = next(line for line in blocks[0].splitlines()
                            if line.strip().endswith("python -m pytest"))
    test_command = install_and_test.split("&& ", 2)[-1]  # after the venv step
    assert test_command == 'pip install -e ".[dev]" && python -m pytest'
    assert test_command in (ROOT / ".ci" / "run").read_text()
