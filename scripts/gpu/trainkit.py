"""Training stages of the GPU kit (scripts/gpu/run.sh; docs/gpu.md), each in one process.

    python3 scripts/gpu/trainkit.py rate --style S.jpg --data CACHE --work DIR --out JSON \\
        --steps N [fastnst-train flags...]
    python3 scripts/gpu/trainkit.py ship --styles A.jpg B.jpg ... --data CACHE --eval DIR \\
        --work DIR --out OUTDIR --budget-s 420 [fastnst-train flags...]

`rate`: one short fastnst-train run; writes the steady images/s (steps after the first few,
which hold cuDNN autotuning and the data loader's start) and the run's overall images/s.

`ship`: retrains every style in this one process (each `fastnst-train` process pays its
start-up again), sized by the time budget rather than a fixed step count: a short
calibration run measures the seconds per step and the fixed cost of a run, then each run
gets max-steps = (its share of the time left - fixed cost - its evals) / seconds per step,
so its learning-rate schedule runs to the end; a Lightning Timer stops it at its share if
the estimate was wrong. A run is one style (a 3.4 MB model each), or with `--together NAME`
all the styles in one multi-style model NAME (one 3.4 MB file for all: what the repository
can ship, since the tree travels to the GPU). After each run: fastnst-eval of each of its
styles on --eval, the TensorBoard scalars as JSON, and ship.json rewritten (a run that fails
later loses nothing before it). At the end the models (trained with --half), eval JSON and
scalars are packed into at most --max-files files of at most 15 MiB under OUTDIR (the
device returns 8 files of 16 MiB).

Flags this script does not know go to fastnst-train for every run (e.g. --config fast).
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # run from the tree: the GPU machine cannot pip install

import lightning as L  # noqa: E402
import torch  # noqa: E402
from lightning.pytorch.callbacks import Timer  # noqa: E402

from fastnst.cli.eval import main as eval_main  # noqa: E402
from fastnst.cli.train import COMMAND as TRAIN  # noqa: E402
from fastnst.training.train import resolve_train_config, train  # noqa: E402

MIB = 2**20
PACK_LIMIT = 15 * MIB  # under the device's 16 MiB per returned file


def _sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class StepClock(L.Callback):
    """Seconds per optimizer step after the first `skip` steps, and the images they took.

    Timed from the end of step `skip` to the end of the last step (end-of-training work such
    as the quality report is left out), with a CUDA sync at both ends.
    """

    def __init__(self, skip: int) -> None:
        self.skip = skip
        self.started: float | None = None
        self.steps = 0  # timed steps
        self.images = 0
        self.seconds = 0.0

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule,
                           outputs: Any, batch: Any, batch_idx: int) -> None:
        if trainer.global_step == self.skip:
            _sync()
            self.started = time.perf_counter()
        elif self.started is not None:
            if trainer.global_step >= trainer.max_steps:
                _sync()  # the last step: wait for its kernels (earlier ones overlap)
            self.steps += 1
            self.images += int(batch["images"].shape[0]) * trainer.world_size
            self.seconds = time.perf_counter() - self.started

    @property
    def step_s(self) -> float | None:
        return self.seconds / self.steps if self.steps else None

    @property
    def images_per_s(self) -> float | None:
        return self.images / self.seconds if self.steps and self.seconds else None


def run_training(styles: list[Path], name: str, steps: int, args: argparse.Namespace,
                 train_flags: list[str], extra: list[L.Callback] = ()
                 ) -> tuple[Path, float, StepClock, dict[str, Any]]:
    """One fastnst-train run of `styles` (two or more: one multi-style model) in this process:
    (model file, wall s, its clock, model meta)."""
    work = Path(args.work)
    (work / "models").mkdir(parents=True, exist_ok=True)
    argv = [*train_flags, "--style", *map(str, styles), "--data", args.data, "--name", name,
            "--runs-dir", str(work / "runs"), "--output", str(work / "models" / f"{name}.ckpt"),
            "--max-steps", str(steps), "--half"]
    files, flags = TRAIN.flags(argv)
    config = resolve_train_config(files, flags)
    clock = StepClock(min(args.skip_steps, max(0, steps - 1)))
    started = time.perf_counter()
    model = train(config, callbacks=[clock, *extra])
    wall = time.perf_counter() - started
    meta = torch.load(model, map_location="cpu", weights_only=True)["meta"]
    return model, wall, clock, meta


def tensorboard_scalars(run_dir: Path) -> dict[str, list[list[float]]]:
    """{tag: [[step, value], ...]} of every scalar in the run's TensorBoard event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars: dict[str, list[list[float]]] = {}
    for events in sorted(run_dir.glob("events.out.tfevents.*")):
        accumulator = EventAccumulator(str(events), size_guidance={"scalars": 0})
        accumulator.Reload()
        for tag in accumulator.Tags()["scalars"]:
            scalars.setdefault(tag, []).extend(
                [event.step, round(event.value, 6)] for event in accumulator.Scalars(tag))
    return scalars


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    tmp.replace(path)


def rate(args: argparse.Namespace, train_flags: list[str]) -> int:
    model, wall, clock, meta = run_training([Path(args.style)], "rate", args.steps, args,
                                            train_flags)
    scalars = tensorboard_scalars(Path(args.work) / "runs" / "rate")
    logged = [value for _, value in scalars.get("train/device/samples_per_sec", [])]
    report = {
        "steps": meta["steps"], "images_seen": meta["images_seen"],
        "batch_size": meta["config"]["batch_size"], "precision": meta["config"]["precision"],
        "timed_steps": clock.steps, "skipped_steps": clock.skip,
        "steady_images_per_s": None if clock.images_per_s is None
        else round(clock.images_per_s, 1),
        "tensorboard_images_per_s": logged,
        "wall_s": round(wall, 1),
        "overall_images_per_s": round(meta["images_seen"] / wall, 1),
        "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
    }
    write_json(Path(args.out), report)
    print(f"rate: {report['steady_images_per_s']} images/s steady (steps {clock.skip + 1}-"
          f"{meta['steps']}, batch {report['batch_size']}), {report['overall_images_per_s']} "
          f"images/s over the whole {report['wall_s']} s run")
    return 0


def pack(files: list[Path], out: Path, stem: str) -> list[Path]:
    """Tar `files` into as few OUT/STEM_K.tar of at most PACK_LIMIT bytes as fit (in order,
    first fit); one file over the limit is an error. Returns the archives."""
    bins: list[list[Path]] = []
    sizes: list[int] = []
    for path in files:
        size = path.stat().st_size + 1024  # tar header and padding
        if size > PACK_LIMIT:
            raise SystemExit(f"ship: {path} is {size / MIB:.1f} MiB, over the pack limit")
        for i, used in enumerate(sizes):
            if used + size <= PACK_LIMIT:
                bins[i].append(path)
                sizes[i] += size
                break
        else:
            bins.append([path])
            sizes.append(size)
    archives = []
    for k, members in enumerate(bins, start=1):
        archive = out / f"{stem}_{k}.tar"
        with tarfile.open(archive, "w") as tar:
            for path in members:
                tar.add(path, arcname=f"{path.parent.name}/{path.name}")
        archives.append(archive)
    return archives


def ship(args: argparse.Namespace, train_flags: list[str]) -> int:
    started = time.perf_counter()
    deadline = started + args.budget_s
    work, out = Path(args.work), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    styles = [Path(s) for s in args.styles]
    summary: dict[str, Any] = {"budget_s": args.budget_s, "train_flags": train_flags,
                               "device": torch.cuda.get_device_name()
                               if torch.cuda.is_available() else "cpu",
                               "goal_images_seen": args.goal_images, "styles": {}}

    # Calibration: seconds per step and the fixed cost of one run (start-up, quality report,
    # saving), on the first style; its model is thrown away. A multi-style step costs the
    # same: the batch is the same size, each image against its own style's Grams.
    _, wall, clock, _ = run_training(styles[:1], "calibration", args.calib_steps, args,
                                     train_flags)
    step_s = clock.step_s or wall / args.calib_steps
    fixed_s = max(0.0, wall - args.calib_steps * step_s)
    eval_s = fixed_s  # a guess per style until the first eval is timed
    summary["calibration"] = {"steps": args.calib_steps, "wall_s": round(wall, 1),
                              "step_s": round(step_s, 4), "fixed_s": round(fixed_s, 1)}
    print(f"ship: calibration {step_s * 1000:.0f} ms/step, {fixed_s:.1f} s fixed per run")

    # Each run: (model name, its styles).
    runs = ([(args.together, styles)] if args.together
            else [(style.stem, [style]) for style in styles])
    summary["runs"] = {}
    for i, (name, run_styles) in enumerate(runs):
        share = (deadline - time.perf_counter()) / (len(runs) - i)
        train_s = share - fixed_s - eval_s * len(run_styles)
        steps = max(args.min_steps, int(train_s / step_s))
        if args.max_steps:
            steps = min(steps, args.max_steps)
        # The Timer counts from the first step: it stops a run whose steps were slower than
        # measured at its share, the model then saved and scored as at the end.
        timer = Timer(duration=timedelta(seconds=max(1.0, train_s)), interval="step")
        print(f"ship: {name}: {steps} steps planned ({share:.0f} s share)", flush=True)
        model, wall, clock, meta = run_training(run_styles, name, steps, args, train_flags,
                                                [timer])
        if clock.step_s:
            step_s = clock.step_s  # the latest measurement: the machine may speed up or slow
        fixed_s = max(0.0, wall - meta["steps"] * step_s)
        summary["runs"][name] = {
            "styles": [style.stem for style in run_styles], "model": model.name,
            "steps": meta["steps"], "planned_steps": steps, "images_seen": meta["images_seen"],
            "goal_met": None if args.goal_images is None
            else meta["images_seen"] >= args.goal_images * len(run_styles),
            "train_wall_s": round(wall, 1),
            "steady_images_per_s": None if clock.images_per_s is None
            else round(clock.images_per_s, 1),
            "stopped_by_timer": meta["steps"] < steps,
            "model_bytes": model.stat().st_size,
        }
        evaluated = time.perf_counter()
        for style in run_styles:
            eval_json = work / "eval" / f"{style.stem}.json"
            eval_json.parent.mkdir(parents=True, exist_ok=True)
            spec = f"{model}:{style.stem}" if len(run_styles) > 1 else str(model)
            code = eval_main(["--model", spec, "--content", args.eval, "--style", str(style),
                              "--max-size", str(args.eval_size), "-o", str(eval_json)])
            fast = json.loads(eval_json.read_text())["fast"] if code == 0 else {}
            summary["styles"][style.stem] = {
                "run": name, "eval_exit_code": code,
                "eval": {key: round(fast[key], 4) for key in ("style_error", "content_error")
                         if key in fast}}
        eval_s = (time.perf_counter() - evaluated) / len(run_styles)
        write_json(work / "scalars" / f"{name}.json",
                   tensorboard_scalars(work / "runs" / name))
        summary["elapsed_s"] = round(time.perf_counter() - started, 1)
        write_json(out / "ship.json", summary)

    models = [work / "models" / f"{name}.ckpt" for name, _ in runs]
    results = sorted((work / "eval").glob("*.json")) + sorted((work / "scalars").glob("*.json"))
    archives = pack(models, out, "models") + pack(results, out, "results")
    summary["archives"] = [a.name for a in archives]
    summary["elapsed_s"] = round(time.perf_counter() - started, 1)
    write_json(out / "ship.json", summary)
    returned = [p for p in out.iterdir() if p.is_file()]
    print(f"ship: {len(styles)} styles in {summary['elapsed_s']} s (budget {args.budget_s} s);"
          f" {out}: {', '.join(sorted(p.name for p in returned))}")
    if len(returned) > args.max_files:
        print(f"ship: error: {len(returned)} files under {out}, over {args.max_files}",
              file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("rate", "ship"):
        p = sub.add_parser(name)
        p.add_argument("--data", required=True, help="photo cache (fastnst-prepare-data)")
        p.add_argument("--work", required=True, help="runs, models, eval, scalars go here")
        p.add_argument("--skip-steps", type=int, default=5, help="untimed first steps")
        if name == "rate":
            p.add_argument("--style", required=True)
            p.add_argument("--out", required=True, help="report (.json)")
            p.add_argument("--steps", type=int, default=200)
        else:
            p.add_argument("--styles", nargs="+", required=True)
            p.add_argument("--eval", required=True, help="held-out photos for fastnst-eval")
            p.add_argument("--eval-size", type=int, default=256)
            p.add_argument("--out", required=True, help="folder of what comes back")
            p.add_argument("--budget-s", type=float, required=True)
            p.add_argument("--calib-steps", type=int, default=30)
            p.add_argument("--min-steps", type=int, default=1)
            p.add_argument("--max-steps", type=int, help="at most N steps a style (the "
                           "miniature: a few steps, whatever the budget)")
            p.add_argument("--goal-images", type=int, help="images seen each style should "
                           "reach (the quick recipe's), reported per style")
            p.add_argument("--max-files", type=int, default=6)
            p.add_argument("--together", metavar="NAME", help="train all the styles in one "
                           "multi-style model NAME instead of one model each")
    args, train_flags = parser.parse_known_args(argv)
    return rate(args, train_flags) if args.command == "rate" else ship(args, train_flags)


if __name__ == "__main__":
    sys.exit(main())
