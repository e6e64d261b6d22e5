"""`fastnst-eval`: style and content error of a model over a photo folder; `fastnst-eval
video`: its flicker on a clip; `fastnst-eval photoreal`: photorealistic results scored."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from fastnst.cli.common import Command
from fastnst.core.files import check_output_file
from fastnst.evaluation.eval_config import EvalConfig, PhotorealEvalConfig, VideoEvalConfig

COMMAND = Command(
    "fastnst-eval", EvalConfig, "Score a style model on a folder of photos: style error "
    "(relative Gram distance, relu1_1..relu5_1) and content error (relative relu4_2 distance), "
    "per image and averaged, optionally next to the slow Gatys baseline. `fastnst-eval video "
    "VIDEO`: the flicker of the stylized clip (temporal error) with and without --temporal, "
    "and its per-frame style error. `fastnst-eval photoreal DIR`: photorealistic results (one "
    "folder per method) scored per content-style pair: style error, globally and inside "
    "matched mask regions, and structure kept (SSIM of gradient magnitudes).",
    subcommands={
        "video": (VideoEvalConfig, "score the model's flicker on a video instead"),
        "photoreal": (PhotorealEvalConfig, "score photorealistic results instead (no model)")})


def evaluate_model(config: EvalConfig | VideoEvalConfig | PhotorealEvalConfig) -> int:
    from fastnst.evaluation.evaluate import evaluate, format_summary, write_report

    output = check_output_file(config.output, (".json",)) if config.output else None
    if isinstance(config, PhotorealEvalConfig):
        from fastnst.photoreal.report import evaluate_photoreal, format_photoreal

        report = evaluate_photoreal(config.pairs, config.outputs, config.reference,
                                    config.max_size, config.max_pixels, config.device)
        print(format_photoreal(report))
    elif isinstance(config, VideoEvalConfig):
        from fastnst.evaluation.video import evaluate_video, format_video_summary

        report = evaluate_video(config)
        print(format_video_summary(report))
    else:
        report = evaluate(config)
        print(format_summary(report))
    if output is not None:
        write_report(report, output)
        print(f"metrics: {output}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return COMMAND.main(argv, evaluate_model)


if __name__ == "__main__":
    sys.exit(main())
