"""Input files of every kind a user may hand to fastnst, made on the fly (tiny, offline).

Each `make_*` function writes one file into `folder` and returns its path; the readable ones
also return the upright RGB image (H, W, 3) uint8 that a viewer shows for it, built here
independently of the code under test. test_images.py checks the decoded values, test_cli.py
runs the same files through `fastnst-stylize`.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

GREY = (128, 128, 128)
RED = (255, 0, 0)
BLUE = (0, 0, 255)
WHITE = (255, 255, 255)

# CMYK patches (C, M, Y, K) and the RGB a naive (no ICC) conversion shows for them:
# R = (255 - C) * (255 - K) / 255, likewise G from M and B from Y.
CMYK_PATCHES = [(255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 255, 0), (55, 215, 225, 0),
                (0, 0, 0, 128), (0, 0, 0, 255)]
PATCH = 16  # px; JPEG works in 8x8 blocks, so flat 16x16 patches survive it nearly intact
BLOCK = 8  # px per sample in the lossless cases: big enough for the model in CLI tests

# 16-bit samples and the 8-bit values they must become: round(v / 257), 65535 -> 255.
SIXTEEN_BIT = np.array([[0, 128, 257, 1000], [32768, 40000, 65000, 65535]], np.uint16)
SIXTEEN_BIT_AS_8 = np.array([[0, 0, 1, 4], [128, 156, 253, 255]], np.uint8)

# EXIF orientation -> how the stored pixels relate to the upright image U a viewer shows
# (EXIF 2.32, tag 0x0112: where the stored row 0 / column 0 are displayed). Written with numpy,
# not PIL, so that the test does not check PIL against itself.
STORED_FROM_UPRIGHT: dict[int, Callable[[np.ndarray], np.ndarray]] = {
    1: lambda u: u,                                    # row 0 top, column 0 left
    2: lambda u: u[:, ::-1],                           # row 0 top, column 0 right
    3: lambda u: u[::-1, ::-1],                        # row 0 bottom, column 0 right
    4: lambda u: u[::-1, :],                           # row 0 bottom, column 0 left
    5: lambda u: u.transpose(1, 0, 2),                 # row 0 left, column 0 top
    6: lambda u: u[:, ::-1].transpose(1, 0, 2),        # row 0 right, column 0 top
    7: lambda u: u[::-1, ::-1].transpose(1, 0, 2),     # row 0 right, column 0 bottom
    8: lambda u: u[::-1, :].transpose(1, 0, 2),        # row 0 left, column 0 bottom
}
ORIENTATION_TAG = 0x0112


def cmyk_expected_rgb(c: int, m: int, y: int, k: int) -> tuple[float, float, float]:
    """The RGB (0-255) of a CMYK colour without a colour profile, as PIL and browsers show it."""
    return (255 - c) * (255 - k) / 255, (255 - m) * (255 - k) / 255, (255 - y) * (255 - k) / 255


def blocks(array: np.ndarray, size: int = BLOCK) -> np.ndarray:
    """Each pixel of an (H, W, ...) array as a size x size block: (H*size, W*size, ...)."""
    return np.repeat(np.repeat(array, size, axis=0), size, axis=1)


def make_cmyk_jpeg(folder: Path) -> tuple[Path, np.ndarray]:
    """A CMYK JPEG (stored the Adobe way, inverted, with an APP14 marker) of flat patches."""
    cmyk = np.zeros((PATCH, PATCH * len(CMYK_PATCHES), 4), np.uint8)
    upright = np.zeros((PATCH, PATCH * len(CMYK_PATCHES), 3), np.uint8)
    for i, colour in enumerate(CMYK_PATCHES):
        cmyk[:, i * PATCH:(i + 1) * PATCH] = colour
        upright[:, i * PATCH:(i + 1) * PATCH] = np.round(cmyk_expected_rgb(*colour))
    path = folder / "cmyk.jpg"
    Image.fromarray(cmyk, "CMYK").save(path, quality=95)
    return path, upright


def make_gray16_png(folder: Path, values: np.ndarray = SIXTEEN_BIT) -> tuple[Path, np.ndarray]:
    """A 16-bit grayscale PNG of `values` (uint16, each an 8x8 block); PIL reads it as I;16."""
    path = folder / "gray16.png"
    Image.fromarray(blocks(values)).save(path)
    return path, _grey_rgb(blocks(np.rint(values / 257).astype(np.uint8)))


def make_i16_file(folder: Path, mode: str) -> tuple[Path, np.ndarray]:
    """SIXTEEN_BIT (8x8 blocks) as a file PIL reads in `mode`: an I;16 or I;16B TIFF, or for
    I a 16-bit binary PGM."""
    samples = blocks(SIXTEEN_BIT)
    height, width = samples.shape
    if mode == "I":
        path = folder / "gray16.pgm"
        path.write_bytes(f"P5 {width} {height} 65535\n".encode() + samples.astype(">u2").tobytes())
    else:
        path = folder / f"gray_{mode.replace(';', '')}.tif"
        dtype = ">u2" if mode.endswith("B") else "<u2"
        Image.frombytes(mode, (width, height), samples.astype(dtype).tobytes()).save(path)
    return path, _grey_rgb(blocks(SIXTEEN_BIT_AS_8))


def _grey_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[..., None], 3, axis=2)


def make_palette_png(folder: Path, per_entry_alpha: bool = False) -> tuple[Path, np.ndarray]:
    """A palette PNG of red, green, blue and a transparent index 3 (8x8 blocks, 32x8).

    With per_entry_alpha the tRNS chunk also makes blue half transparent (alpha 128).
    """
    image = Image.fromarray(blocks(np.array([[0, 1, 2, 3]], np.uint8)), "P")
    image.putpalette([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30])
    path = folder / "palette.png"
    blue = (0, 0, 255)
    if per_entry_alpha:
        image.save(path, transparency=bytes([255, 255, 128, 0]))
        blue = (127, 127, 255)  # alpha 128 over white: 255 * (255 - 128) / 255 = 127
    else:
        image.save(path, transparency=3)
    return path, blocks(np.array([[(255, 0, 0), (0, 255, 0), blue, WHITE]], np.uint8))


def make_la_png(folder: Path) -> tuple[Path, np.ndarray]:
    """Grey 100 at alpha 0, 128 and 255 (mode LA, 8x8 blocks, 24x8); on white: 255, 177, 100."""
    pixels = np.array([[(100, 0), (100, 128), (100, 255)]], np.uint8)
    path = folder / "la.png"
    Image.fromarray(blocks(pixels), "LA").save(path)
    blended = round(100 * 128 / 255 + 255 * 127 / 255)  # 177
    return path, _grey_rgb(blocks(np.array([[255, blended, 100]], np.uint8)))


def upright_marked(width: int = 32, height: int = 16) -> np.ndarray:
    """A grey (H, W, 3) image with a red 8x8 top-left corner: every flip or turn shows."""
    image = np.full((height, width, 3), GREY, np.uint8)
    image[:8, :8] = RED
    return image


def make_exif_jpeg(folder: Path, orientation: int) -> tuple[Path, np.ndarray]:
    """A JPEG whose stored pixels, turned as its EXIF orientation says, show upright_marked()."""
    upright = upright_marked()
    stored = np.ascontiguousarray(STORED_FROM_UPRIGHT[orientation](upright))
    exif = Image.Exif()
    exif[ORIENTATION_TAG] = orientation
    path = folder / f"exif{orientation}.jpg"
    Image.fromarray(stored).save(path, exif=exif, quality=95, subsampling=0)
    return path, upright


def make_animated(folder: Path, suffix: str = ".gif") -> tuple[Path, np.ndarray]:
    """A two-frame 8x6 animation (.gif, lossless .webp, or .png for APNG): red, then blue."""
    first, second = Image.new("RGB", (8, 6), RED), Image.new("RGB", (8, 6), BLUE)
    path = folder / f"animated{suffix}"
    extra = {"lossless": True} if suffix == ".webp" else {}
    first.save(path, save_all=True, append_images=[second], duration=100, loop=0, **extra)
    return path, np.full((6, 8, 3), RED, np.uint8)


def make_empty(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def make_truncated(folder: Path, suffix: str = ".jpg") -> Path:
    """A 64x64 noise image (seeded) cut after half its bytes: the header is intact."""
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    whole = folder / f"whole{suffix}"
    Image.fromarray(noise).save(whole)
    path = folder / f"truncated{suffix}"
    data = whole.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    whole.unlink()
    return path


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def make_huge_header_png(folder: Path, side: int = 100_000) -> Path:
    """A 100-byte PNG whose IHDR claims side x side 8-bit RGB (30 GB decoded), with a valid
    CRC, then a tiny IDAT: a decompression bomb's header."""
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)  # depth 8, RGB, no interlace
    data = (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr)
            + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + _png_chunk(b"IEND", b""))
    path = folder / "huge.png"
    path.write_bytes(data)
    return path


def make_text_as_jpg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("this is not an image\n")
    return path


# For the CLI: one file per readable kind (name -> maker) and per unreadable kind.
READABLE: dict[str, Callable[[Path], tuple[Path, np.ndarray]]] = {
    "cmyk_jpeg": make_cmyk_jpeg,
    "gray16_png": make_gray16_png,
    "i16_tiff": lambda folder: make_i16_file(folder, "I;16"),
    "palette_transparency": make_palette_png,
    "la_png": make_la_png,
    "exif_rotated_jpeg": lambda folder: make_exif_jpeg(folder, 6),
    "animated_gif": make_animated,
}
UNREADABLE: dict[str, Callable[[Path], Path]] = {
    "empty": make_empty,
    "truncated": make_truncated,
    "huge_header": make_huge_header_png,
    "text_as_jpg": make_text_as_jpg,
}
