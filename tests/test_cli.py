"""The command-line tools as a user runs them: results on success, one-line errors on bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fastnst.cli.slow import main as slow_main
from fastnst.cli.stylize import main as stylize_main
from fastnst.cli.train import main as train_main
from fastnst.core.images import open_image
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT, DEBUG_CONFIG, ROOT, STYLE
from tests.image_cases import READABLE, UNREADABLE

Main = Callable[[Sequence[str] | None], int]


def _script(name: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / f"{name}.py"), *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_train_stylize_and_slow_scripts_produce_images(tmp_path: Path, photos: Path) -> None:
    """The three scripts end to end, as separate processes, the way the README runs them."""
    trained = _script("train", "--config", str(DEBUG_CONFIG), "--style", str(STYLE),
                      "--data", str(photos), "--name", "cli", "--max-steps", "2", cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr[-2000:]
    model = tmp_path / "models" / "cli.ckpt"  # not checkpoints/: a clone's shipped models
    assert model.is_file()
    assert list((tmp_path / "runs" / "cli").glob("events.out.tfevents.*"))
    assert f"model: {Path('models') / 'cli.ckpt'}" in trained.stdout

    content = tmp_path / "photo.jpg"
    Image.open(CONTENT).resize((75, 51)).save(content)  # odd size on purpose
    styled = _script("stylize", "--model", str(model), str(content), "-o", "out.png",
                     cwd=tmp_path)
    assert styled.returncode == 0, styled.stderr
    with Image.open(tmp_path / "out.png") as out:
        assert out.size == (75, 51) and out.mode == "RGB"

    slow = _script("slow", "--content", str(content), "--style", str(STYLE), "-o", "slow.jpg",
                   "--image-size", "48", "--style-size", "64", "--iterations", "2",
                   "--device", "cpu", cwd=tmp_path)
    assert slow.returncode == 0, slow.stderr
    with Image.open(tmp_path / "slow.jpg") as out:
        assert max(out.size) == 48


def test_stylize_does_not_import_lightning(tmp_path: Path) -> None:
    model = save_model(TransformerNet(width=0.25), tmp_path / "m.ckpt")
    probe = ("import sys; from fastnst.cli.stylize import main as stylize_main; "
             f"code = stylize_main(['--model', {str(model)!r}, {str(CONTENT)!r}, "
             f"'-o', {str(tmp_path / 'o.jpg')!r}, '--max-size', '32']); "
             "assert code == 0; print(sorted(m for m in sys.modules if 'lightning' in m))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_stylize_keeps_folder_layout_and_image_modes(tmp_path: Path) -> None:
    """Folders are mirrored; grayscale, RGBA, palette and EXIF-rotated inputs all work."""
    model = save_model(TransformerNet(width=0.25), tmp_path / "m.ckpt")
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    base = Image.open(CONTENT).resize((40, 30))
    base.convert("L").save(source / "gray.png")
    base.convert("RGBA").save(source / "sub" / "alpha.png")
    base.convert("P").save(source / "palette.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees clockwise to display
    base.save(source / "rotated.jpg", exif=exif)
    assert stylize_main(["--model", str(model), str(source), "-o", str(tmp_path / "out")]) == 0
    out = tmp_path / "out"
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "gray.png", "palette.png", "rotated.jpg", "sub/alpha.png"]
    assert Image.open(out / "gray.png").size == (40, 30)
    assert Image.open(out / "rotated.jpg").size == (30, 40)  # upright, as viewers show it


# ------------------------------------------------------------------------------ bad input


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return save_model(TransformerNet(width=0.25), tmp_path / "model.ckpt")


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    folder = tmp_path / "bad"
    folder.mkdir()
    text = folder / "notes.jpg"
    text.write_text("this is not an image\n")
    truncated = folder / "truncated.jpg"
    truncated.write_bytes(CONTENT.read_bytes()[:2000])
    junk_ckpt = folder / "junk.ckpt"
    junk_ckpt.write_bytes(b"\x00not a checkpoint" * 64)
    other_ckpt = folder / "other.ckpt"
    torch.save({"weights": torch.zeros(3)}, other_ckpt)
    wrong_arch = folder / "wrong_arch.ckpt"
    saved = save_model(TransformerNet(width=0.25), wrong_arch)
    payload = torch.load(saved, weights_only=True)
    payload["arch"] = {"width": 0.5, "num_residual": 5}  # weights no longer fit the arch
    torch.save(payload, wrong_arch)
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "readme.txt").write_text("no images here")
    return {"text": text, "truncated": truncated, "junk_ckpt": junk_ckpt,
            "other_ckpt": other_ckpt, "wrong_arch": wrong_arch, "empty": empty}


def _fails_cleanly(main: Main, argv: list[str], capsys: pytest.CaptureFixture[str],
                   expected: str, watched: Path) -> None:
    """Exit code 2, exactly one stderr line mentioning `expected`, nothing new in `watched`."""
    before = sorted(watched.rglob("*"))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "error:" in lines[0] and expected in lines[0], lines[0]
    assert sorted(watched.rglob("*")) == before, "a partial output was left behind"


@pytest.mark.parametrize("case", ["missing", "empty_folder", "text", "truncated", "junk_ckpt",
                                  "other_ckpt", "wrong_arch", "pixel_limit", "missing_dir",
                                  "readonly_dir"])
def test_stylize_bad_input(case: str, tmp_path: Path, model: Path, bad_files: dict[str, Path],
                           readonly_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    image, out, ckpt, extra = str(CONTENT), str(out_dir / "x.jpg"), str(model), []
    expected = {"missing": "nope.jpg", "empty_folder": "empty", "text": "notes.jpg",
                "truncated": "truncated.jpg", "junk_ckpt": "junk.ckpt",
                "other_ckpt": "other.ckpt", "wrong_arch": "wrong_arch.ckpt",
                "pixel_limit": "pixels", "missing_dir": "does_not_exist",
                "readonly_dir": str(readonly_dir)}[case]
    if case == "missing":
        image = str(tmp_path / "nope.jpg")
    elif case == "empty_folder":
        image = str(bad_files["empty"])
        out = str(out_dir / "folder_out")
    elif case in ("text", "truncated"):
        image = str(bad_files[case])
    elif case in ("junk_ckpt", "other_ckpt", "wrong_arch"):
        ckpt = str(bad_files[case])
    elif case == "pixel_limit":
        extra = ["--max-pixels", "1000"]
    elif case == "missing_dir":
        out = str(tmp_path / "does_not_exist" / "x.jpg")
    elif case == "readonly_dir":
        out = str(readonly_dir / "x.jpg")
    _fails_cleanly(stylize_main, ["--model", ckpt, image, "-o", out, *extra], capsys, expected,
                   tmp_path)


@pytest.mark.parametrize("case", ["missing_style", "empty_data", "style_not_image",
                                  "output_missing_dir"])
def test_train_bad_input(case: str, tmp_path: Path, photos: Path, bad_files: dict[str, Path],
                         capsys: pytest.CaptureFixture[str],
                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    style, data, extra = str(STYLE), str(photos), []
    expected = {"missing_style": "nope.jpg", "empty_data": "empty",
                "style_not_image": "notes.jpg", "output_missing_dir": "does_not_exist"}[case]
    if case == "missing_style":
        style = str(tmp_path / "nope.jpg")
    elif case == "empty_data":
        data = str(bad_files["empty"])
    elif case == "style_not_image":
        style = str(bad_files["text"])
    else:
        extra = ["--output", str(tmp_path / "does_not_exist" / "m.ckpt")]
    argv = ["--config", str(DEBUG_CONFIG), "--style", style, "--data", data, *extra]
    _fails_cleanly(train_main, argv, capsys, expected, tmp_path)


@pytest.mark.parametrize("case", ["missing_content", "truncated_style", "pixel_limit",
                                  "readonly_dir"])
def test_slow_bad_input(case: str, tmp_path: Path, bad_files: dict[str, Path],
                        readonly_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content, style, out, extra = str(CONTENT), str(STYLE), str(tmp_path / "o.png"), []
    expected = {"missing_content": "nope.jpg", "truncated_style": "truncated.jpg",
                "pixel_limit": "pixels", "readonly_dir": str(readonly_dir)}[case]
    if case == "missing_content":
        content = str(tmp_path / "nope.jpg")
    elif case == "truncated_style":
        style = str(bad_files["truncated"])
    elif case == "pixel_limit":
        extra = ["--max-pixels", "1000"]
    else:
        out = str(readonly_dir / "o.png")
    argv = ["--content", content, "--style", style, "-o", out, "--iterations", "1",
            "--image-size", "32", "--style-size", "32", "--device", "cpu", *extra]
    _fails_cleanly(slow_main, argv, capsys, expected, tmp_path)


def test_bad_input_has_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    result = _script("stylize", "--model", str(tmp_path / "missing.ckpt"), str(CONTENT),
                     cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines() == [
        f"fastnst-stylize: error: no such checkpoint: {tmp_path / 'missing.ckpt'}"]
    assert not list(tmp_path.iterdir())


def test_folder_with_one_bad_image_stylizes_the_rest_and_fails(
        tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    Image.open(CONTENT).resize((32, 24)).save(folder / "good.jpg")
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    assert stylize_main(["--model", str(model), str(folder), "-o", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "broken.png" in err[0]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["good.jpg"]


# ------------------------------------------------------------ every kind of input image file


@pytest.mark.parametrize("case", sorted(READABLE))
def test_stylize_reads_every_kind_of_image(case: str, tmp_path: Path, model: Path) -> None:
    """CMYK, 16-bit, I;16, palette with transparency, LA, EXIF-rotated and animated inputs
    stylize at their upright size, exactly like a plain RGB PNG of what they show."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    source, upright = READABLE[case](folder)
    decoded = np.asarray(open_image(source, 10**8))
    assert np.abs(decoded.astype(int) - upright).mean() < 2  # details: tests/test_images.py
    reference = folder / "reference.png"
    Image.fromarray(decoded).save(reference)
    for image in (source, reference):
        assert stylize_main(["--model", str(model), str(image), "-o",
                             str(out / f"{image.stem}.png")]) == 0
    with Image.open(out / f"{source.stem}.png") as styled, \
            Image.open(out / "reference.png") as expected:
        assert styled.size == expected.size == (upright.shape[1], upright.shape[0])
        assert np.array_equal(np.asarray(styled), np.asarray(expected))


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_stylize_refuses_unreadable_images(case: str, tmp_path: Path, model: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    """0-byte, truncated, 100000x100000-header and text-named-.jpg files: exit 2, one line
    naming the file, nothing written."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    source = UNREADABLE[case](folder)
    detail = {"empty": "cannot read image (empty file, 0 bytes)",
              "truncated": "cannot read image (image file is truncated",
              "huge_header": "100000x100000 pixels is over the limit",
              "text_as_jpg": "cannot read image (not an image file)"}[case]
    _fails_cleanly(stylize_main, ["--model", str(model), str(source), "-o", str(out / "x.png")],
                   capsys, f"{source}: {detail}", tmp_path)
