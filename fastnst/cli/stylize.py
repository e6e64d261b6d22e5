"""`fastnst-stylize`: images, folders and videos through a trained model, any size."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fastnst.cli.common import Command, report_error
from fastnst.core.errors import FastNSTError
from fastnst.core.files import check_output_file, check_writable_dir
from fastnst.core.images import (
    IMAGE_SUFFIXES,
    SAVE_SUFFIXES,
    list_images,
    open_image,
    save_image,
)
from fastnst.inference.stylize_config import StylizeConfig
from fastnst.inference.video import OUTPUT_FORMATS as VIDEO_OUTPUT_FORMATS
from fastnst.inference.video import VIDEO_SUFFIXES, is_video

if TYPE_CHECKING:  # imported when stylizing starts: the backends bring torch's model code
    from fastnst.inference.backends import BackendMismatch

PROG = "fastnst-stylize"
COMMAND = Command(PROG, StylizeConfig, "Stylize images and videos with a trained model, keeping "
                  "each one's size.")


def _output_suffix(path: Path) -> str:
    if is_video(path):
        return path.suffix.lower() if path.suffix.lower() in VIDEO_OUTPUT_FORMATS else ".mp4"
    return path.suffix.lower() if path.suffix.lower() in SAVE_SUFFIXES else ".png"


def _looks_like_file(out: Path) -> bool:
    """An -o with a suffix names a file (image, video or an unsupported kind), not a folder."""
    return bool(out.suffix) and not out.is_dir()


def plan_outputs(inputs: Sequence[str], output: str | None) -> list[tuple[Path, Path]]:
    """Pair each input with its output path; checks every output place before any work.

    OUT is a file when there is one input file and OUT has a suffix (it must be one we can
    write: an image suffix for an image, a video suffix for a video); otherwise a folder
    (created if its parent exists), mirroring the layout of input folders. Videos are named
    as files; folders contribute images only.
    """
    single_file = len(inputs) == 1 and Path(inputs[0]).is_file()
    out = Path(output) if output is not None else None
    if out is not None and single_file and _looks_like_file(out):
        source = Path(inputs[0])
        if is_video(source):
            if out.suffix.lower() in IMAGE_SUFFIXES:
                raise FastNSTError(f"-o {out}: a video input needs a video output "
                                   f"({', '.join(VIDEO_OUTPUT_FORMATS)})")
            return [(source, check_output_file(out, tuple(VIDEO_OUTPUT_FORMATS),
                                               what="video output"))]
        if is_video(out):
            raise FastNSTError(f"-o {out}: an image input needs an image output "
                               f"({', '.join(SAVE_SUFFIXES)})")
        return [(source, check_output_file(out, SAVE_SUFFIXES, what="image output"))]
    pairs: list[tuple[Path, Path]] = []
    for raw in inputs:
        root = Path(raw)
        for image in list_images([raw]):
            if out is None:
                target = image.with_name(f"{image.stem}.stylized{_output_suffix(image)}")
            else:
                relative = image.relative_to(root) if root.is_dir() else Path(image.name)
                target = out / relative.with_suffix(_output_suffix(image))
            pairs.append((image, target))
    if out is not None:
        if out.exists() and not out.is_dir():
            raise FastNSTError(f"-o {out} is a file, but there are several inputs: give a folder")
        if out.suffix.lower() in IMAGE_SUFFIXES + tuple(VIDEO_SUFFIXES):
            raise FastNSTError(f"-o {out}: several inputs need an output folder, not a file")
        if not out.exists():
            if not out.parent.is_dir():
                raise FastNSTError(f"output folder's parent does not exist: {out.parent}")
            check_writable_dir(out.parent)
            out.mkdir()
    targets = [target for _, target in pairs]
    if len(set(targets)) != len(targets):
        raise FastNSTError("two inputs would write the same output name; use separate runs")
    for folder in sorted({target.parent for target in targets}):
        folder.mkdir(parents=True, exist_ok=True)
        check_writable_dir(folder)
    return pairs


def backend_flags(err: BackendMismatch, model: str) -> str:
    """The library's backend error in this command's flags."""
    if not err.settings:
        return f"{model}: an ONNX model runs with --backend onnx"
    flags = ", ".join(f"--{name}" if name in ("tile", "compile") else f"--{name} {value}"
                      for name, value in err.settings)
    return f"{flags}: not available with --backend onnx (fp32 on the CPU); use --backend torch"


def stylize(config: StylizeConfig) -> int:
    """Stylize every input; returns the exit code (2 if any input failed)."""
    from fastnst.core.memory import keep_freed_memory
    from fastnst.inference.backends import BackendMismatch, load_stylizer
    from fastnst.inference.still import stylize_image
    from fastnst.inference.video import stylize_video

    if config.smooth:
        videos = [raw for raw in config.inputs if is_video(Path(raw))]
        if videos:
            raise FastNSTError(f"--smooth works on images, not videos ({videos[0]})")
    pairs = plan_outputs(config.inputs, config.output)
    try:
        stylizer = load_stylizer(config.model, config.backend, config.device,
                                 config.precision, tile=config.tile, compile=config.compile,
                                 stats_max_pixels=config.stats_max_pixels,
                                 strength=config.strength,
                                 preserve_colors=config.preserve_colors)
    except BackendMismatch as err:
        raise FastNSTError(backend_flags(err, config.model)) from None
    if config.strength != 1.0:
        print(f"strength {config.strength:g}: {stylizer.strength_mode}")
    keep_freed_memory()  # reuse activation memory between images, tiles and frames
    failures = 0
    for source, target in pairs:
        try:
            if is_video(source):
                report = stylize_video(stylizer, source, target, config.batch_size,
                                       config.max_size, config.max_pixels,
                                       temporal=config.temporal)
                print(f"{target}  ({report.frames} frames, {report.width}x{report.height}, "
                      f"{report.frames_per_s:.2f} frames/s, audio {report.audio})")
                continue
            photo = open_image(source, config.max_pixels)
        except FastNSTError as err:
            report_error(PROG, err)
            failures += 1
            continue
        result = stylize_image(stylizer, photo, config.max_size,
                               config.smooth_method if config.smooth else None)
        save_image(result.image, target, config.quality)
        smoothed = f", smoothed: {result.smooth_method}" if result.smooth_method else ""
        print(f"{target}  ({result.image.width}x{result.image.height}, "
              f"{result.seconds:.2f} s{smoothed})")
    return 2 if failures else 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, stylize)


if __name__ == "__main__":
    sys.exit(main())
