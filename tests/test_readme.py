"""The README is the user's manual: its commands must be the real ones, its flag tables the
parsers' own (every flag, its default, nothing that does not exist)."""

from __future__ import annotations

import glob
import re
import shlex
from pathlib import Path

import pytest

from fastnst.cli import COMMANDS, program
from scripts.readme_flags import flag_table, readme_blocks
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("module", COMMANDS)
def test_flag_table_matches_the_parser(module: str) -> None:
    """Both directions: a flag missing from the README, a README flag the parser lacks, or a
    stale default all show up as a difference. Refresh with python scripts/readme_flags.py --write
    README.md."""
    blocks = readme_blocks(README)
    assert program(module) in blocks, f"README.md has no flags block for {program(module)}"
    documented = blocks[program(module)].strip().splitlines()
    generated = flag_table(module).strip().splitlines()
    assert table_differences(documented, generated) == []


def table_differences(documented: list[str], generated: list[str]) -> list[str]:
    """The rows only one of the tables has ('- ' README only, '+ ' parser only), then a note
    if they hold the same rows in a different order."""
    only_readme = [f"- {row}" for row in documented if row not in generated]
    only_parser = [f"+ {row}" for row in generated if row not in documented]
    if only_readme or only_parser or documented == generated:
        return only_readme + only_parser
    return ["rows in a different order"]


def _flags(table: str) -> set[str]:
    return set(re.findall(r"`(--[a-z][a-z0-9-]*)", table))


def test_the_check_would_see_a_missing_or_invented_flag() -> None:
    """The comparison above is not vacuous: tables name real flags, and a table with a row
    removed or a flag renamed differs from the generated one."""
    table = flag_table("stylize")
    assert {"--model", "--tile", "--backend", "--no-compile"} <= _flags(table)
    rows = table.strip().splitlines()
    assert table_differences(rows, rows) == []
    assert table_differences(rows[:-1], rows) == [f"+ {rows[-1]}"]  # a flag the README lacks
    renamed = [row.replace("`--tile ", "`--tiles ") for row in rows]
    tile_row = next(row for row in rows if row.startswith("| `--tile "))
    assert f"- {tile_row.replace('--tile ', '--tiles ')}" in table_differences(renamed, rows)
    assert table_differences(rows[::-1], rows) == ["rows in a different order"]


def test_console_scripts_match_the_documented_commands() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for module in COMMANDS:
        assert f'{program(module)} = "fastnst.cli.{module}:main"' in pyproject
        assert f"`{program(module)}`" in README
        assert (ROOT / "scripts" / f"{module}.py").read_text().count(f"fastnst.cli.{module}") == 1


def test_ci_runs_the_readme_test_command() -> None:
    blocks = re.findall(r"```bash\n(.*?)```", README, flags=re.S)
    install_and_test = next(line for line in blocks[0].splitlines()
                            if "python -m pytest" in line)
    test_command = install_and_test.split("&& ", 2)[-1]  # after the venv step
    assert test_command == 'pip install -e ".[dev]" && python -m pytest -n 2'
    assert test_command in (ROOT / ".ci" / "run").read_text()


# --- README commands marked runnable, run in miniature ---------------------------------------

RUNNABLE = re.compile(r"<!-- runnable -->\n```bash\n(.*?)```", flags=re.S)
# Appended to each runnable command so it runs in seconds on a CPU: argparse lets the last
# value of a flag win, so what runs is the README's command, only smaller.
MINIATURE = {
    "fastnst-train": ["--max-steps", "2", "--image-size", "32", "--style-size", "32",
                      "--batch-size", "2", "--num-workers", "0", "--val-images", "1",
                      "--eval-size", "32", "--accelerator", "cpu"],
    "fastnst-stylize": ["--max-size", "128", "--device", "cpu"],
    "fastnst-invert": ["--layers", "conv1_1", "--iterations", "1", "--image-size", "32",
                       "--device", "cpu"],
    "fastnst-slow": ["--iterations", "1", "--image-size", "32", "--style-size", "32",
                     "--device", "cpu"],
    "fastnst-photo": ["--iterations", "1,0", "--image-size", "64", "--style-size", "64",
                      "--device", "cpu"],
    "fastnst-eval": ["--max-size", "32", "--baseline-iters", "1", "--device", "cpu"],
    "fastnst-sheet": ["--size", "32", "--device", "cpu"],
    "fastnst-export": [],
    "fastnst-prepare-data": ["--image-size", "32", "--workers", "0"],
}
# Runnable as written but not here: what it measures takes minutes (tests/test_bench.py runs
# it in miniature with its own flags).
NOT_RUN = {"fastnst-bench"}


def runnable_blocks() -> list[list[list[str]]]:
    """The fastnst commands of each README block marked `<!-- runnable -->`, as argv lists
    (comments dropped; other programs such as tensorboard skipped)."""
    blocks = []
    for block in RUNNABLE.findall(README):
        commands = [shlex.split(line, comments=True) for line in block.splitlines()]
        blocks.append([argv for argv in commands if argv and argv[0].startswith("fastnst-")])
    return blocks


def test_no_readme_command_needs_the_development_data() -> None:
    """A user's clone has no ../shared beside it: commands use bundled files, or name what
    the user supplies."""
    assert "../shared" not in README
    assert len(runnable_blocks()) >= 5


@pytest.mark.parametrize("block", runnable_blocks(),
                         ids=lambda block: "+".join(argv[0][8:] for argv in block))
def test_runnable_readme_commands_run_from_a_fresh_clone(
        block: list[list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each block's commands, in order, from a folder holding only the package (as a fresh
    clone's relative paths see it), in miniature: exit 0 and the -o output is written."""
    import importlib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "fastnst").symlink_to(ROOT / "fastnst")
    modules = {program(module): module for module in COMMANDS}
    for argv in block:
        if argv[0] in NOT_RUN:
            continue
        args = [match for arg in argv[1:]
                for match in (sorted(glob.glob(arg)) if "*" in arg else [arg])]
        main = importlib.import_module(f"fastnst.cli.{modules[argv[0]]}").main
        assert main([*args, *MINIATURE[argv[0]]]) == 0, " ".join(argv)
        if "-o" in args:
            assert (tmp_path / args[args.index("-o") + 1]).exists(), " ".join(argv)


def test_folder_suffixes_are_listed_from_the_reader() -> None:
    """The stylize table's folder suffixes are the reader's (the list the empty-folder error
    names), and the video suffixes the video reader's."""
    from fastnst.core.images import IMAGE_SUFFIXES
    from fastnst.inference.video import VIDEO_SUFFIXES

    (row,) = [line for line in flag_table("stylize").splitlines() if line.startswith("| `IN")]
    images, videos = row.split("searched recursively for ")[1].split(") and/or video files (")
    assert images.split() == list(IMAGE_SUFFIXES)
    assert videos.split(")")[0].split() == list(VIDEO_SUFFIXES)
