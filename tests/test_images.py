import numpy as np
import pytest
from PIL import Image

from fastnst.core.errors import FastNSTError
from fastnst.core.files import atomic_output
from fastnst.core.images import list_images, open_image, save_image, to_pil, to_tensor

LIMIT = 10**8


def test_exif_orientation_is_applied(tmp_path):
    image = Image.new("RGB", (40, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rotated.jpg"
    image.save(path, exif=exif)
    assert open_image(path, LIMIT).size == (20, 40)


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "CMYK", "LA"])
def test_modes_become_rgb(tmp_path, mode):
    path = tmp_path / f"img_{mode.replace(';', '')}.{'tif' if mode in ('I;16', 'CMYK') else 'png'}"
    Image.new(mode, (8, 6)).save(path)
    image = open_image(path, LIMIT)
    assert image.mode == "RGB" and image.size == (8, 6)


def test_transparency_composited_on_white(tmp_path):
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(path)
    assert open_image(path, LIMIT).getpixel((0, 0)) == (255, 255, 255)


def test_pixel_limit_refuses_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (300, 200)).save(path)
    with pytest.raises(FastNSTError, match="300x200.*over the limit"):
        open_image(path, max_pixels=50_000)


def test_truncated_and_non_image_files(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(np.random.randint(0, 255, (64, 64, 3), dtype=np.uint8)).save(good)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:400])
    text = tmp_path / "notes.jpg"
    text.write_text("hello")
    with pytest.raises(FastNSTError, match="truncated.jpg: cannot read image"):
        open_image(truncated, LIMIT)
    with pytest.raises(FastNSTError, match="not an image file"):
        open_image(text, LIMIT)
    with pytest.raises(FastNSTError, match="no such file"):
        open_image(tmp_path / "missing.jpg", LIMIT)


def test_tensor_round_trip_is_exact():
    array = np.random.randint(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = to_tensor(Image.fromarray(array))
    assert tensor.shape == (3, 5, 7) and tensor.is_contiguous()
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(to_pil(tensor)), array)


def test_list_images_recurses_and_rejects_empty_folders(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "b" / "x.png")
    (tmp_path / "a" / "readme.txt").write_text("no image")
    assert [p.name for p in list_images([tmp_path])] == ["x.png"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FastNSTError, match="no images in folder"):
        list_images([tmp_path / "empty"])


def test_atomic_output_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_save_image_formats(tmp_path):
    image = Image.new("RGB", (10, 10), "blue")
    save_image(image, tmp_path / "a.png")
    save_image(image, tmp_path / "b.jpg")
    assert Image.open(tmp_path / "a.png").format == "PNG"
    assert Image.open(tmp_path / "b.jpg").format == "JPEG"
    with pytest.raises(FastNSTError, match="must end in"):
        save_image(image, tmp_path / "c.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg"]
