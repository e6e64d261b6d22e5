"""Reading every kind of image file (values, not only modes), tensors, listing and writing."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFile

from fastnst.core.errors import FastNSTError
from fastnst.core.files import atomic_output
from fastnst.core.images import (
    list_images,
    open_image,
    save_image,
    to_pil,
    to_tensor,
)
from tests.image_cases import (
    CMYK_PATCHES,
    PATCH,
    RED,
    SIXTEEN_BIT,
    cmyk_expected_rgb,
    make_animated,
    make_cmyk_jpeg,
    make_empty,
    make_exif_jpeg,
    make_gray16_png,
    make_huge_header_png,
    make_i16_file,
    make_la_png,
    make_palette_png,
    make_text_as_jpg,
    make_truncated,
)

LIMIT = 10**8


def _array(path: Path) -> np.ndarray:
    image = open_image(path, LIMIT)
    assert image.mode == "RGB"
    return np.asarray(image).astype(int)


# ------------------------------------------------------------------ readable kinds, by value


def test_cmyk_jpeg_colours(tmp_path: Path) -> None:
    """Adobe-style (inverted) CMYK JPEG -> RGB within 4 levels of (255-C)(255-K)/255 per patch.

    JPEG is lossy, so each flat 16x16 patch is compared by the mean of its inner 8x8 pixels.
    """
    path, _ = make_cmyk_jpeg(tmp_path)
    with Image.open(path) as raw:  # the file really is CMYK, with Adobe's APP14 marker
        assert raw.mode == "CMYK" and "adobe" in raw.info
    decoded = _array(path)
    assert decoded.shape == (PATCH, PATCH * len(CMYK_PATCHES), 3)
    for i, colour in enumerate(CMYK_PATCHES):
        inner = decoded[4:12, i * PATCH + 4:i * PATCH + 12].reshape(-1, 3)  # (64, 3)
        assert np.allclose(inner.mean(axis=0), cmyk_expected_rgb(*colour), atol=4), colour


def test_gray16_png_maps_0_65535_to_0_255(tmp_path: Path) -> None:
    """16-bit grayscale: value / 257, rounded (0 -> 0, 32768 -> 128, 65535 -> 255), exactly;
    scaled by the bit depth, not the content, so a dark image stays dark."""
    path, expected = make_gray16_png(tmp_path)
    with Image.open(path) as raw:
        assert raw.mode == "I;16"
    assert np.array_equal(_array(path), expected)
    dark = tmp_path / "dark"
    dark.mkdir()
    path, expected = make_gray16_png(dark, np.array([[0, 100, 255, 1000]], np.uint16))
    decoded = _array(path)
    assert np.array_equal(decoded, expected) and decoded.max() == 4  # 1000 / 257 = 3.9


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I"])
def test_i16_and_i_modes(tmp_path: Path, mode: str) -> None:
    """I;16 (little- and big-endian TIFF) and I (a 16-bit PGM) read as 16-bit samples."""
    path, expected = make_i16_file(tmp_path, mode)
    with Image.open(path) as raw:
        assert raw.mode == mode
        assert np.array_equal(np.asarray(raw)[::8, ::8], SIXTEEN_BIT)
    assert np.array_equal(_array(path), expected)


@pytest.mark.parametrize("per_entry_alpha", [False, True])
def test_palette_png_with_transparency(tmp_path: Path, per_entry_alpha: bool) -> None:
    """The transparent index becomes white, opaque entries keep their colour, and a
    half-transparent entry blends with white within 1 level."""
    path, expected = make_palette_png(tmp_path, per_entry_alpha)
    with Image.open(path) as raw:
        assert raw.mode == "P" and "transparency" in raw.info
    assert np.abs(_array(path) - expected).max() <= 1


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_trns_colour_key_becomes_white(tmp_path: Path, mode: str) -> None:
    """A grey or RGB PNG whose tRNS chunk names one colour as transparent: that colour turns
    white, the others stay."""
    key, kept, shown = ((7, 200, [200] * 3) if mode == "L"
                        else ((10, 20, 30), (200, 100, 50), [200, 100, 50]))
    image = Image.new(mode, (2, 1), key)
    image.putpixel((1, 0), kept)
    path = tmp_path / "keyed.png"
    image.save(path, transparency=key)
    assert _array(path).tolist() == [[[255, 255, 255], shown]]


def test_la_composited_on_white(tmp_path: Path) -> None:
    """Alpha 0 -> white, 255 -> the grey value, 128 -> 100*128/255 + 255*127/255 = 177 (+-1)."""
    path, expected = make_la_png(tmp_path)
    decoded = _array(path)
    assert decoded[0, 0].tolist() == [255, 255, 255]
    assert decoded[0, -1].tolist() == [100, 100, 100]
    assert np.abs(decoded - expected).max() <= 1


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_shows_upright(tmp_path: Path, orientation: int) -> None:
    """Each of the 8 EXIF orientations decodes to the same upright 32x16 image: red top-left
    8x8 corner, grey elsewhere (JPEG: corner means within 6 levels)."""
    path, upright = make_exif_jpeg(tmp_path, orientation)
    decoded = _array(path)
    assert decoded.shape == upright.shape == (16, 32, 3)
    for rows, cols in [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(-8, None)),
                       (slice(-8, None), slice(0, 8)), (slice(-8, None), slice(-8, None))]:
        mean = decoded[rows, cols].reshape(-1, 3).mean(axis=0)
        assert np.allclose(mean, upright[rows, cols][0, 0], atol=6), (orientation, rows, cols)
    assert open_image(path, LIMIT).getexif().get(0x0112) in (None, 1)  # not applied twice


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animation_gives_first_frame(tmp_path: Path, suffix: str) -> None:
    """An animated GIF, WebP or PNG reads as its first frame (red), not the second (blue): the
    first frame is what gets stylized."""
    path, expected = make_animated(tmp_path, suffix)
    with Image.open(path) as raw:
        assert raw.n_frames == 2
    assert np.array_equal(_array(path), expected)


def test_animation_later_frames_are_never_decoded(tmp_path: Path) -> None:
    """A GIF whose second frame is cut off still gives its (complete) first frame."""
    path, expected = make_animated(tmp_path, ".gif")
    data = path.read_bytes()
    second_frame = data.rindex(b"\x2c\x00\x00\x00\x00")  # image descriptor at (0, 0)
    path.write_bytes(data[:second_frame + 12])
    assert np.array_equal(_array(path), expected)


# ---------------------------------------------------------------- unreadable kinds: one line


def _refused(path: Path, pattern: str, max_pixels: int = LIMIT) -> str:
    with pytest.raises(FastNSTError, match=pattern) as caught:
        open_image(path, max_pixels)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message
    return message


def test_empty_file(tmp_path: Path) -> None:
    _refused(make_empty(tmp_path), "empty file, 0 bytes")


@pytest.mark.parametrize("suffix", [".jpg", ".png"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    _refused(make_truncated(tmp_path, suffix), r"cannot read image \(image file is truncated")


def test_huge_header_refused_before_decoding(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A PNG header claiming 100000x100000 is refused from its header alone: decoding it
    would try to allocate 30 GB, so any decode attempt fails this test."""
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    message = _refused(make_huge_header_png(tmp_path), "100000x100000 pixels is over the limit",
                       max_pixels=150_000_000)
    assert "150,000,000" in message and "--max-pixels" in message


def test_text_file_named_jpg(tmp_path: Path) -> None:
    _refused(make_text_as_jpg(tmp_path), r"cannot read image \(not an image file\)")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FastNSTError, match="no such file: .*missing.jpg"):
        open_image(tmp_path / "missing.jpg", LIMIT)


def test_damaged_header_names_the_format(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    _refused(path, r"cannot read image \(PNG: ")


# ------------------------------------------------- our own pixel limit, not Pillow's global one


def test_pixel_limit_is_per_call_and_pillow_globals_stay_untouched(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """open_image neither reads nor changes Image.MAX_IMAGE_PIXELS or the warnings filters,
    not even while decoding (a server calls it from several threads at once)."""
    path, expected = make_exif_jpeg(tmp_path, 1)  # 32x16 = 512 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # Pillow alone would refuse 512 > 2*100
    seen: list[tuple[object, list[object]]] = []
    load = ImageFile.ImageFile.load

    def spying_load(self: ImageFile.ImageFile) -> object:
        seen.append((Image.MAX_IMAGE_PIXELS, list(warnings.filters)))
        return load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spying_load)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        filters = list(warnings.filters)
        assert open_image(path, max_pixels=512).size == (32, 16)
        _refused(path, "32x16 pixels is over the limit of 511 pixels", max_pixels=511)
    assert not [w for w in caught if issubclass(w.category, Image.DecompressionBombWarning)]
    assert seen and all(value == 100 and active == filters for value, active in seen)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_concurrent_calls_with_different_limits(tmp_path: Path) -> None:
    """Threads with different limits each get their own verdict, and the global is unchanged."""
    path, _ = make_exif_jpeg(tmp_path, 1)  # 512 pixels
    before = Image.MAX_IMAGE_PIXELS
    results: dict[int, list[str]] = {512: [], 511: []}

    def read(limit: int) -> None:
        for _ in range(20):
            try:
                open_image(path, limit)
                results[limit].append("ok")
            except FastNSTError:
                results[limit].append("refused")

    threads = [threading.Thread(target=read, args=(limit,)) for limit in (512, 511, 512, 511)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {512: ["ok"] * 40, 511: ["refused"] * 40}
    assert Image.MAX_IMAGE_PIXELS == before


# ----------------------------------------------------------------------- other image helpers


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "CMYK", "LA"])
def test_modes_become_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / f"img_{mode.replace(';', '')}.{'tif' if mode in ('I;16', 'CMYK') else 'png'}"
    Image.new(mode, (8, 6)).save(path)
    image = open_image(path, LIMIT)
    assert image.mode == "RGB" and image.size == (8, 6)


def test_rgba_transparency_composited_on_white(tmp_path: Path) -> None:
    path = tmp_path / "clear.png"
    Image.new("RGBA", (4, 4), (255, 0, 0, 0)).save(path)
    assert open_image(path, LIMIT).getpixel((0, 0)) == (255, 255, 255)


def test_tensor_round_trip_is_exact() -> None:
    array = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    tensor = to_tensor(Image.fromarray(array))
    assert tensor.shape == (3, 5, 7) and tensor.is_contiguous()
    assert 0 <= tensor.min() and tensor.max() <= 1
    assert np.array_equal(np.asarray(to_pil(tensor)), array)


def test_list_images_recurses_and_rejects_empty_folders(tmp_path: Path) -> None:
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.new("RGB", (4, 4)).save(tmp_path / "a" / "b" / "x.png")
    Image.new("RGB", (4, 4), RED).save(tmp_path / "a" / "y.gif")
    (tmp_path / "a" / "readme.txt").write_text("no image")
    assert [p.name for p in list_images([tmp_path])] == ["x.png", "y.gif"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FastNSTError, match="no images in folder"):
        list_images([tmp_path / "empty"])


def test_atomic_output_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    with pytest.raises(RuntimeError):
        with atomic_output(target) as tmp:
            tmp.write_bytes(b"partial")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []


def test_save_image_formats(tmp_path: Path) -> None:
    image = Image.new("RGB", (10, 10), "blue")
    save_image(image, tmp_path / "a.png")
    save_image(image, tmp_path / "b.jpg")
    assert Image.open(tmp_path / "a.png").format == "PNG"
    assert Image.open(tmp_path / "b.jpg").format == "JPEG"
    with pytest.raises(FastNSTError, match="must end in"):
        save_image(image, tmp_path / "c.gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.jpg"]
