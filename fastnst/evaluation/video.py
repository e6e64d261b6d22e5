"""`fastnst-eval video`: a style model's flicker on a clip, frame by frame and with
--temporal, next to the input's own (the floor). The measures are fastnst.evaluation.temporal;
the report's JSON layout is the docstring of `evaluate_video`. Frames are float RGB in [0, 1],
NCHW.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from tqdm import tqdm

from fastnst import __version__
from fastnst.core.devices import resolve_device
from fastnst.core.errors import FastNSTError
from fastnst.core.images import load_tensor
from fastnst.evaluation.eval_config import VideoEvalConfig
from fastnst.evaluation.evaluate import find_style
from fastnst.evaluation.metrics import (
    METRIC_STYLE_SIZE,
    ImageErrors,
    QualityMetric,
    metric_settings,
)
from fastnst.evaluation.temporal import METRIC_FLOW, ChangeMeter, input_flow, temporal_error
from fastnst.inference.stylizer import Stylizer, frame_batches
from fastnst.inference.temporal import (
    DEFAULT_WEIGHT,
    DETAIL_SIGMA,
    FLOW_MAX_SIZE,
    MASK_ALPHA,
    MAX_DETAIL_GAIN,
    TemporalFilter,
    import_cv2,
)
from fastnst.models.checkpoint import (
    load_model,
    require_one_style,
    resolve_spec,
)

# The two ways fastnst-eval video stylizes the clip, by report key.
VIDEO_MODES = ("per_frame", "temporal")


def evaluate_video(config: VideoEvalConfig, progress: bool = True) -> dict[str, Any]:
    """Score the model's flicker on the clip config.video, frame by frame and with --temporal.

    Frames stream in batches of config.batch_size, so memory does not grow with the clip's
    length; --temporal filters the frame-by-frame outputs (TemporalFilter). Needs PyAV and
    OpenCV. Returns the report, plain data for JSON: {"fastnst_version", "model", "model_style",
    "style", "video", "frames", "width", "height", "max_size", "batch_size", "device", "flow":
    "opencv farneback, forward-backward checked" (the metric's), "temporal_settings": {"weight",
    "mask_alpha", "flow", "flow_max_size"} (the filter's), "metric": {...as in `evaluate`},
    "input": {"frame_change", "warping_error", "unoccluded"}, "per_frame": VIDEO, "temporal":
    VIDEO, "temporal_over_per_frame": {"temporal_error", "warping_error", "style_error",
    "content_error"}}, where VIDEO = {"frame_change", "temporal_error", "warping_error",
    "warping_error_over_input", "style_error", "content_error", "seconds"}: frame_change is the
    mean |F_t - F_{t-1}| (pixel values in [0, 1]); warping_error the same after warping F_{t-1}
    along the input's optical flow, over the pixels not masked as occluded by the
    forward-backward check (fastnst.evaluation.temporal; None where no pixel passed); the
    input's is the floor (what flow errors alone leave), "unoccluded" the mean share of pixels
    it counts; temporal_error and warping_error_over_input divide by the input's (None for a
    static input); style_error and content_error are means over frames, seconds is the wall time
    of stylizing (and filtering). Ratios are None where a figure is.
    """
    device = resolve_device(config.device)
    from fastnst.inference.video import read_frames  # needs PyAV, an optional extra

    cv2 = import_cv2("fastnst-eval video")

    model = resolve_spec(config.model)
    net, meta = load_model(model)
    require_one_style(net, config.model)
    style_path = find_style(config.style, meta, model.path)
    metric = QualityMetric(load_tensor(style_path, config.max_pixels, METRIC_STYLE_SIZE), device)
    stylizer = Stylizer(net, device=str(device))
    smoother = TemporalFilter()
    meters = {name: ChangeMeter() for name in ("input", *VIDEO_MODES)}
    errors: dict[str, list[ImageErrors]] = {name: [] for name in VIDEO_MODES}
    seconds = dict.fromkeys(VIDEO_MODES, 0.0)
    frames = read_frames(config.video, config.max_size, config.max_pixels)
    shape: tuple[int, ...] = ()
    # a bar only on a terminal: logs and pipes get the error line alone
    with tqdm(desc="frames", unit="frame", disable=None if progress else True) as bar:
        for batch in frame_batches(frames, config.batch_size):  # (B, 3, H, W)
            shape = tuple(batch.shape)
            started = time.perf_counter()
            plain = stylizer.stylize_tensor(batch)
            seconds["per_frame"] += time.perf_counter() - started
            steady = torch.stack([smoother(frame, out) for frame, out in zip(batch, plain,
                                                                              strict=True)])
            seconds["temporal"] += time.perf_counter() - started
            outputs = {"per_frame": plain, "temporal": steady}
            for name in VIDEO_MODES:
                errors[name] += metric(outputs[name], batch)
            for index, frame in enumerate(batch):
                before = meters["input"].previous
                flow = (input_flow(before, frame, cv2) if before is not None
                        and before.shape == frame.shape else None)
                meters["input"].add(frame, flow, cv2)
                for name in VIDEO_MODES:
                    meters[name].add(outputs[name][index], flow, cv2)
            bar.update(len(batch))
    count = len(errors["per_frame"])
    if count < 2:
        raise FastNSTError(f"{config.video}: a temporal error needs at least 2 frames, "
                           f"found {count}")

    source = meters["input"]
    results = {}
    for name in VIDEO_MODES:
        meter = meters[name]
        results[name] = {
            "frame_change": meter.change,
            "temporal_error": temporal_error(meter.change, source.change),
            "warping_error": meter.warped_change,
            "warping_error_over_input": temporal_error(meter.warped_change,
                                                       source.warped_change),
            "style_error": sum(e.style for e in errors[name]) / count,
            "content_error": sum(e.content for e in errors[name]) / count,
            "seconds": round(seconds[name], 3),
        }

    def ratio(key: str) -> float | None:
        steady, plain_value = results["temporal"][key], results["per_frame"][key]
        return steady / plain_value if steady is not None and plain_value else None

    return {
        "fastnst_version": __version__,
        "model": str(model.path),
        "model_style": meta.get("style"),
        "style": str(style_path),
        "video": config.video,
        "frames": count,
        "width": shape[-1],
        "height": shape[-2],
        "max_size": config.max_size,
        "batch_size": config.batch_size,
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "flow": f"opencv {METRIC_FLOW}, forward-backward checked",
        "temporal_settings": {"weight": DEFAULT_WEIGHT, "mask_alpha": MASK_ALPHA,
                              "detail_sigma": DETAIL_SIGMA, "max_detail_gain": MAX_DETAIL_GAIN,
                              "flow": "opencv dis medium", "flow_max_size": FLOW_MAX_SIZE},
        "metric": metric_settings(),
        "input": {"frame_change": source.change, "warping_error": source.warped_change,
                  "unoccluded": source.kept_share},
        **results,
        "temporal_over_per_frame": {key: ratio(key) for key in (
            "temporal_error", "warping_error", "style_error", "content_error")},
    }


def _cell(value: float | None, width: int, digits: int = 3) -> str:
    return f"{value:{width}.{digits}f}" if value is not None else f"{'-':>{width}}"


def format_video_summary(report: dict[str, Any]) -> str:
    """A few lines for the terminal: flicker and style error, frame by frame vs --temporal."""
    source = report["input"]
    unoccluded = source["unoccluded"]
    lines = [
        f"{report['frames']} frames {report['width']}x{report['height']} from {report['video']}"
        f", style {report['style']}, on {report['device']}",
        "change: mean |F_t - F_t-1| (pixels in [0, 1]); x input: over the input's (the floor)",
        "warping error: the same after warping F_t-1 along the input's optical flow (OpenCV",
        "Farneback), occluded pixels masked by the forward-backward check"
        + (f" ({unoccluded:.0%} of pixels kept)" if unoccluded is not None else ""),
        f"{'':15}{'change':>9}{'x input':>9}{'warping err':>13}{'x input':>9}"
        f"{'style error':>13}{'content err':>13}",
    ]
    lines.append(f"{'input':15}{_cell(source['frame_change'], 9, 4)}{_cell(1.0, 9)}"
                 f"{_cell(source['warping_error'], 13, 4)}"
                 f"{_cell(1.0 if source['warping_error'] is not None else None, 9)}")
    for name, label in (("per_frame", "--no-temporal"), ("temporal", "--temporal")):
        row = report[name]
        lines.append(f"{label:15}{_cell(row['frame_change'], 9, 4)}"
                     f"{_cell(row['temporal_error'], 9)}{_cell(row['warping_error'], 13, 4)}"
                     f"{_cell(row['warping_error_over_input'], 9)}"
                     f"{_cell(row['style_error'], 13, 4)}{_cell(row['content_error'], 13, 4)}")
    ratio = report["temporal_over_per_frame"]
    lines.append(f"{'with / without':15}{'':9}{_cell(ratio['temporal_error'], 9)}"
                 f"{_cell(ratio['warping_error'], 13)}{'':9}"
                 f"{_cell(ratio['style_error'], 13)}{_cell(ratio['content_error'], 13)}")
    return "\n".join(lines)
