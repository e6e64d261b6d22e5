"""The photorealistic comparison of issue 11 in one command: on Luan et al.'s pairs, our slow
path with their masks and with found masks, and the fast path (a quick result, then the
photorealistic smoothing), next to Luan et al.'s published results, scored by
`fastnst-eval photoreal`.

    python scripts/photoreal_table.py PAIRS_DIR [--work runs/photoreal] [--device cuda]

PAIRS_DIR holds input/in<N>.jpg, style/tar<N>.jpg, seg/in<N>.png, seg/tar<N>.png and
luan/best<N>.jpg. The work folder links to those folders (nothing is copied) and gets one
folder per method with its results and seconds.json (wall time per pair, model loading
included). Each fastnst-photo run is its own process, whose CPU time (user + system) and peak
resident memory go to WORK/METHOD/resources.json: on a shared machine the wall time says
little. With --upscale, photos whose long side is under --size are enlarged to it (Lanczos;
masks nearest-neighbour) into WORK instead of linked, so that `--size 1024` runs and scores
1024 px images (fastnst-photo never enlarges a photo itself). Results already there are kept,
so an interrupted run resumes; delete a method's folder to redo it. The table goes to stdout
and WORK/table.md, the metrics to WORK/table.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image

from fastnst.cli.eval import main as eval_main
from fastnst.core.images import list_images, open_image, save_image
from fastnst.inference.smoothing import smooth_image
from fastnst.photoreal.report import SECONDS_FILE, Pair, find_pairs

LINKED = ("input", "style", "seg", "luan")
SLOW_MASKS, SLOW_AUTO, FAST = "slow_masks", "slow_auto", "fast"
FAST_ITERATIONS = "10,0"  # 10 L-BFGS steps at half size, upsampled along the photo's edges
RESOURCES_FILE = "resources.json"


def photo_arguments(method: str, pair: Pair, fast_iterations: str) -> list[str]:
    """fastnst-photo's arguments for a method, beside content, style, output, size, device."""
    masks = ["--content-mask", str(pair.content_mask), "--style-mask", str(pair.style_mask)]
    if method == SLOW_MASKS:
        return masks
    if method == SLOW_AUTO:
        return []
    return masks + ["--iterations", fast_iterations]


def run_photo(argv: list[str]) -> dict[str, float]:
    """Run fastnst-photo ARGV in a child process; its CPU seconds and peak memory (GB)."""
    child = subprocess.Popen([sys.executable, "-m", "fastnst.cli.photo", *argv])
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"fastnst-photo {' '.join(argv)} failed ({child.returncode})")
    # ru_maxrss is in KiB on Linux
    return {"cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
            "max_rss_gb": round(usage.ru_maxrss / 2**20, 2)}


def run_method(method: str, work: Path, size: int, device: str, fast_iterations: str,
               extra: list[str]) -> None:
    """Write WORK/METHOD/in<N>.png for every pair that lacks it, its seconds and resources."""
    folder = work / method
    folder.mkdir(exist_ok=True)
    seconds_path, resources_path = folder / SECONDS_FILE, folder / RESOURCES_FILE
    seconds = json.loads(seconds_path.read_text()) if seconds_path.is_file() else {}
    resources = json.loads(resources_path.read_text()) if resources_path.is_file() else {}
    for pair in find_pairs(work):
        output = folder / f"{pair.content.stem}.png"
        if output.is_file() and pair.key in seconds:
            continue
        started = time.perf_counter()
        resources[pair.key] = run_photo(
            ["--content", str(pair.content), "--style", str(pair.style), "-o", str(output),
             "--image-size", str(size), "--device", device]
            + photo_arguments(method, pair, fast_iterations) + extra)
        if method == FAST:
            result = open_image(output, 10**9)
            content = open_image(pair.content, 10**9).resize(result.size)
            save_image(smooth_image(result, content), output)
        seconds[pair.key] = round(time.perf_counter() - started, 1)
        seconds_path.write_text(json.dumps(seconds, indent=1) + "\n")
        resources_path.write_text(json.dumps(resources, indent=1) + "\n")
        print(f"{method} {pair.key}: {seconds[pair.key]} s, {resources[pair.key]}", flush=True)


def upscale_folder(source: Path, target: Path, size: int, nearest: bool) -> None:
    """Copy source's images into target (as PNG), enlarging those with a long side under
    size px to it: Lanczos for photos, nearest neighbour for masks (labels must not blend)."""
    target.mkdir(exist_ok=True)
    for path in list_images([source]):
        image = open_image(path, 10**9).convert("RGB")
        if max(image.size) < size:
            scale = size / max(image.size)
            image = image.resize((round(image.width * scale), round(image.height * scale)),
                                 Image.Resampling.NEAREST if nearest
                                 else Image.Resampling.LANCZOS)
        image.save(target / f"{path.stem}.png")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pairs", type=Path, help="Luan et al.'s pairs folder (see above)")
    parser.add_argument("--work", type=Path, default=Path("runs/photoreal"),
                        help="results folder (default runs/photoreal)")
    parser.add_argument("--methods", default=f"{SLOW_MASKS},{SLOW_AUTO},{FAST}",
                        help="methods to run, comma-separated (default all three)")
    parser.add_argument("--size", type=int, default=512, help="long side in px (default 512)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (default auto)")
    parser.add_argument("--fast-iterations", default=FAST_ITERATIONS,
                        help=f"the fast path's --iterations (default {FAST_ITERATIONS})")
    parser.add_argument("--upscale", action="store_true",
                        help="enlarge photos and masks smaller than --size into WORK (see above)")
    parser.add_argument("--photo-args", default="",
                        help="more fastnst-photo arguments for every method, one string "
                             "(e.g. \"--region-norm own\")")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = args.work / name
        if link.exists():
            continue
        if args.upscale and name != "luan":  # the eval brings the results to the photo's size
            upscale_folder(args.pairs / name, link, args.size, nearest=name == "seg")
        else:
            link.symlink_to((args.pairs / name).resolve(), target_is_directory=True)
    methods = [m for m in args.methods.split(",") if m]
    for method in methods:
        run_method(method, args.work, args.size, args.device, args.fast_iterations,
                   args.photo_args.split())
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        code = eval_main(["photoreal", str(args.work), "--outputs", "luan", *methods,
                          "--device", args.device, "--max-size", str(args.size),
                          "-o", str(args.work / "table.json")])
    (args.work / "table.md").write_text(table.getvalue())
    print(table.getvalue(), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
