"""Every output place of every command is checked before any work: one stderr line, exit 2,
nothing written. Usage mistakes are one line too."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from fastnst.cli.eval import main as eval_main
from fastnst.cli.prepare_data import main as prepare_data_main
from fastnst.cli.sheet import main as sheet_main
from fastnst.cli.slow import main as slow_main
from fastnst.cli.stylize import main as stylize_main
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT, STYLE

Main = Callable[[Sequence[str] | None], int]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return save_model(TransformerNet(width=0.25), tmp_path / "model.ckpt")


def _one_line_failure(main: Main, argv: list[str], capsys: pytest.CaptureFixture[str],
                      expected: str, watched: Path) -> None:
    before = sorted(watched.rglob("*"))
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], lines
    assert sorted(watched.rglob("*")) == before


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".tiff", ".mp4"])
def test_stylize_refuses_an_unsupported_single_output(suffix, tmp_path, model, capsys):
    out = tmp_path / f"out{suffix}"
    expected = "image output must end in" if suffix != ".mp4" else "needs an image output"
    _one_line_failure(stylize_main, ["--model", str(model), str(CONTENT), "-o", str(out)],
                      capsys, expected, tmp_path)


def test_stylize_output_file_for_several_inputs_is_refused(tmp_path, model, capsys):
    out = tmp_path / "both.jpg"
    _one_line_failure(stylize_main, ["--model", str(model), str(CONTENT), str(STYLE), "-o",
                                     str(out)], capsys, "need an output folder", tmp_path)


@pytest.mark.parametrize(("main", "argv"), [
    (slow_main, ["--content", str(CONTENT), "--style", str(STYLE), "--iterations", "1"]),
    (sheet_main, ["--models", "starry_night", "--content", str(CONTENT)]),
])
def test_slow_and_sheet_refuse_gif_before_working(main, argv, tmp_path, capsys):
    _one_line_failure(main, [*argv, "-o", str(tmp_path / "x.gif")], capsys,
                      "must end in .jpg, .jpeg, .png", tmp_path)


def test_eval_refuses_a_readonly_metrics_folder(tmp_path, model, readonly_dir, capsys):
    _one_line_failure(eval_main, ["--model", str(model), "--content", str(CONTENT), "-o",
                                  str(readonly_dir / "m.json")], capsys, str(readonly_dir),
                      tmp_path)


def test_prepare_data_refuses_a_readonly_place(tmp_path, readonly_dir, capsys):
    _one_line_failure(prepare_data_main, [str(CONTENT), "-o", str(readonly_dir / "cache")],
                      capsys, str(readonly_dir), tmp_path)


def test_prepare_data_refuses_a_missing_parent(tmp_path, capsys):
    _one_line_failure(prepare_data_main, [str(CONTENT), "-o", str(tmp_path / "no" / "cache")],
                      capsys, "does not exist", tmp_path)


@pytest.mark.parametrize("argv", [["--bogus"], ["--model"], ["--precision", "8", "a.jpg"]])
def test_usage_mistakes_are_one_line(argv, capsys):
    with pytest.raises(SystemExit) as exit_info:
        stylize_main([*argv, "--model", "m"] if argv == ["--bogus"] else argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fastnst-stylize: error:"), lines
