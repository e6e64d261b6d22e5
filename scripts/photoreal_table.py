"""The photorealistic comparison of issue 11 in one command: on Luan et al.'s pairs, our slow
path with their masks and with found masks, and the fast path (a quick result, then the
photorealistic smoothing), next to Luan et al.'s published results, scored by
`fastnst-eval --photoreal`.

    python scripts/photoreal_table.py PAIRS_DIR [--work runs/photoreal] [--device cuda]

PAIRS_DIR holds input/in<N>.jpg, style/tar<N>.jpg, seg/in<N>.png, seg/tar<N>.png and
luan/best<N>.jpg. The work folder links to those folders (nothing is copied) and gets one
folder per method with its results and seconds.json (wall time per pair, model loading
included). Results already there are kept, so an interrupted run resumes; delete a method's
folder to redo it. The table goes to stdout and WORK/table.md, the metrics to WORK/table.json.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import time
from pathlib import Path

from fastnst.cli.eval import main as eval_main
from fastnst.cli.photo import main as photo_main
from fastnst.core.images import open_image, save_image
from fastnst.evaluation.photoreal import SECONDS_FILE, Pair, find_pairs
from fastnst.inference.smoothing import smooth_image

LINKED = ("input", "style", "seg", "luan")
SLOW_MASKS, SLOW_AUTO, FAST = "slow_masks", "slow_auto", "fast"
FAST_ITERATIONS = "10,0"  # 10 L-BFGS steps at half size, upsampled along the photo's edges


def photo_arguments(method: str, pair: Pair, fast_iterations: str) -> list[str]:
    """fastnst-photo's arguments for a method, beside content, style, output, size, device."""
    masks = ["--content-mask", str(pair.content_mask), "--style-mask", str(pair.style_mask)]
    if method == SLOW_MASKS:
        return masks
    if method == SLOW_AUTO:
        return []
    return masks + ["--iterations", fast_iterations]


def run_method(method: str, work: Path, size: int, device: str, fast_iterations: str) -> None:
    """Write WORK/METHOD/in<N>.png for every pair that lacks it, and its seconds."""
    folder = work / method
    folder.mkdir(exist_ok=True)
    seconds_path = folder / SECONDS_FILE
    seconds = json.loads(seconds_path.read_text()) if seconds_path.is_file() else {}
    for pair in find_pairs(work):
        output = folder / f"{pair.content.stem}.png"
        if output.is_file() and pair.key in seconds:
            continue
        started = time.perf_counter()
        code = photo_main(["--content", str(pair.content), "--style", str(pair.style),
                           "-o", str(output), "--image-size", str(size), "--device", device]
                          + photo_arguments(method, pair, fast_iterations))
        if code != 0:
            raise SystemExit(f"fastnst-photo failed on pair {pair.key} ({method})")
        if method == FAST:
            result = open_image(output, 10**9)
            content = open_image(pair.content, 10**9).resize(result.size)
            save_image(smooth_image(result, content), output)
        seconds[pair.key] = round(time.perf_counter() - started, 1)
        seconds_path.write_text(json.dumps(seconds, indent=1) + "\n")
        print(f"{method} {pair.key}: {seconds[pair.key]} s", flush=True)


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
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    for name in LINKED:
        link = args.work / name
        if not link.exists():
            link.symlink_to((args.pairs / name).resolve(), target_is_directory=True)
    methods = [m for m in args.methods.split(",") if m]
    for method in methods:
        run_method(method, args.work, args.size, args.device, args.fast_iterations)
    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        code = eval_main(["--photoreal", str(args.work), "--outputs", "luan", *methods,
                          "--device", args.device, "-o", str(args.work / "table.json")])
    (args.work / "table.md").write_text(table.getvalue())
    print(table.getvalue(), end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
