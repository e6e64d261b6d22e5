"""fastnst.sheet and fastnst-sheet: grid geometry, cell contents, CLI output and errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fastnst.cli.sheet import main as sheet_main
from fastnst.core.images import open_image, to_pil, to_tensor
from fastnst.evaluation.sheet import BACKGROUND, GAP, grid, square, text_cell
from fastnst.inference.stylizer import Stylizer
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import ASSETS, CONTENT, STYLE

SIZE = 32


def cell(sheet: Image.Image, row: int, col: int, size: int = SIZE) -> np.ndarray:
    left, top = GAP + col * (size + GAP), GAP + row * (size + GAP)
    return np.asarray(sheet.crop((left, top, left + size, top + size)))


def test_grid_geometry_and_blank_cells():
    red, blue = (Image.new("RGB", (10, 10), color) for color in ((255, 0, 0), (0, 0, 255)))
    sheet = grid([[None, red, blue], [red]], 10)
    assert sheet.size == (3 * 10 + 4 * GAP, 2 * 10 + 3 * GAP)
    assert (cell(sheet, 0, 0, 10) == BACKGROUND).all()
    assert (cell(sheet, 0, 1, 10) == (255, 0, 0)).all()
    assert (cell(sheet, 0, 2, 10) == (0, 0, 255)).all()
    assert (cell(sheet, 1, 2, 10) == BACKGROUND).all()  # a short row leaves blanks
    assert (np.asarray(sheet)[:GAP] == BACKGROUND).all()  # the margin


def test_square_and_text_cells():
    photo = Image.new("RGB", (60, 30))
    assert square(photo, 20).size == (20, 20)
    label = np.asarray(text_cell("composition_vii", SIZE))
    assert label.shape == (SIZE, SIZE, 3) and (label < 128).any() and (label == 255).any()


def test_sheet_cli_writes_the_grid(tmp_path):
    torch.manual_seed(0)
    with_style = save_model(TransformerNet(width=0.25), tmp_path / "a.ckpt",
                            meta={"style": "starry_night", "config": {"style": str(STYLE)}})
    unknown = save_model(TransformerNet(width=0.25), tmp_path / "b.ckpt",
                         meta={"style": "not_bundled"})
    photos = [CONTENT, sorted((ASSETS / "photos").glob("*.jpg"))[0]]
    out = tmp_path / "sheet.png"
    code = sheet_main(["--models", str(with_style), str(unknown), "--content", *map(str, photos),
                       "-o", str(out), "--size", str(SIZE), "--device", "cpu"])
    assert code == 0
    sheet = Image.open(out)
    assert sheet.size == (3 * SIZE + 4 * GAP, 3 * SIZE + 4 * GAP)  # 1 + 2 columns, 1 + 2 rows
    assert (cell(sheet, 0, 0) == BACKGROUND).all()
    np.testing.assert_array_equal(cell(sheet, 0, 1),
                                  np.asarray(square(open_image(STYLE, 10**8), SIZE)))
    np.testing.assert_array_equal(cell(sheet, 0, 2), np.asarray(text_cell("not_bundled", SIZE)))
    stylizer = Stylizer.from_checkpoint(unknown, device="cpu")
    for row, photo in enumerate(photos, start=1):
        original = square(open_image(photo, 10**8), SIZE)
        np.testing.assert_array_equal(cell(sheet, row, 0), np.asarray(original))
        stylized = to_pil(stylizer.stylize_tensor(to_tensor(original).unsqueeze(0)))
        np.testing.assert_array_equal(cell(sheet, row, 2), np.asarray(stylized))


def test_sheet_cli_errors_leave_no_output(tmp_path, capsys):
    model = save_model(TransformerNet(width=0.25), tmp_path / "a.ckpt")
    out = tmp_path / "sheet.png"
    cases = [
        (["--models", "no_such_model", "--content", str(CONTENT), "-o", str(out)],
         "no model named"),
        (["--models", str(model), "--content", str(tmp_path / "x.jpg"), "-o", str(out)],
         "no such file"),
        (["--models", str(model), "--content", str(CONTENT), "-o", str(tmp_path / "s.gif")],
         ".png"),
        (["--models", str(model), "--content", str(CONTENT), "-o",
          str(tmp_path / "missing" / "s.png")], "does not exist"),
        (["--models", str(model), "--content", str(CONTENT)], "-o/--output is required"),
    ]
    for argv, message in cases:
        assert sheet_main([*argv, "--device", "cpu", "--size", "16"]) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and message in err, (argv, err)
    assert not out.exists() and not list(Path(tmp_path).glob("*.png"))
