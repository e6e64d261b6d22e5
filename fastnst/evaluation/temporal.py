"""Flicker of stylized video: how much consecutive output frames change, next to the input's.

- frame change: mean over consecutive pairs of mean |F_t - F_{t-1}| over pixels and channels,
  pixel values in [0, 1];
- warping error (Lai et al. 2018, "Learning Blind Video Temporal Consistency", with the mean
  absolute instead of the squared difference): the same mean after warping F_{t-1} onto
  frame t along the optical flow of the *input* frames (fastnst.inference.flow, Farneback),
  over the pixels that are not occluded: those the forward-backward check of Ruder et al.
  2016 keeps, inside the frame. Motion itself no longer counts; what is left is flicker (and
  the flow's own errors, which is why the input's warping error is the floor to compare with);
- temporal error: the output's change divided by the input's (1: the output changes as much
  as the input does; lower is steadier), and likewise the warping error over the input's.
  Undefined (None) when the input barely changes: a static clip gives a meaningful figure
  only motion-compensated, or as the absolute change.

Frames are float RGB tensors (T, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastnst.inference.flow import Flow, FlowEstimator, hwc_array

# Below this mean change (pixel values in [0, 1], 1/40 of an 8-bit level) the input counts as
# static and ratios to it are not reported.
MIN_INPUT_CHANGE = 1e-4
# The metric's flow (fastnst.inference.flow): Farneback at full size with the forward-backward
# check, a different estimator from the DIS the --temporal filter blends along, so the filter
# is not scored with its own flow.
METRIC_FLOW = "farneback"


def frame_change(frames: torch.Tensor) -> float:
    """Mean over consecutive pairs of mean |F_t - F_{t-1}|; frames (T, 3, H, W) in [0, 1],
    T >= 2. Returns a value in [0, 1]."""
    if frames.shape[0] < 2:
        raise ValueError("frame change needs at least two frames")
    pairs = (frames[1:].float() - frames[:-1].float()).abs()  # (T - 1, 3, H, W)
    return float(pairs.mean(dim=(1, 2, 3)).mean())


def input_flow(before: torch.Tensor, now: torch.Tensor, cv2: Any) -> Flow:
    """The metric's backward flow from input frame `now` to `before`, both (3, H, W) in [0, 1]:
    Farneback, valid where inside the frame and forward-backward consistent."""
    estimator = FlowEstimator(cv2, METRIC_FLOW, check=True)
    height, width = now.shape[-2:]
    gray_before, gray_now = estimator.gray(hwc_array(before)), estimator.gray(hwc_array(now))
    return estimator(gray_before, gray_now, height, width)


def warped_pair_change(before: torch.Tensor, now: torch.Tensor, flow: Flow,
                       cv2: Any) -> float | None:
    """Mean |now - warp(before)| over the flow's valid pixels and the channels; frames
    (3, H, W) in [0, 1]. None when no pixel is valid."""
    if not flow.valid.any():
        return None
    warped = cv2.remap(hwc_array(before), flow.map_x, flow.map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    difference = np.abs(now.float().permute(1, 2, 0).numpy() - warped)  # (H, W, 3)
    return float(difference[flow.valid].mean())


def warped_change(frames: torch.Tensor, flows: list[Flow], cv2: Any) -> float | None:
    """Mean over consecutive pairs of `warped_pair_change`; frames (T, 3, H, W) in [0, 1],
    flows[t - 1] from input frame t to t - 1. Pairs without valid pixels are left out; None
    when no pair has any."""
    if len(flows) != frames.shape[0] - 1:
        raise ValueError(f"{frames.shape[0]} frames need {frames.shape[0] - 1} flows, "
                         f"not {len(flows)}")
    changes = [warped_pair_change(before, now, flow, cv2)
               for before, now, flow in zip(frames[:-1], frames[1:], flows, strict=True)]
    kept = [change for change in changes if change is not None]
    return float(np.mean(kept)) if kept else None


class ChangeMeter:
    """The frame change (and warping error) of one stream of frames, one frame at a time, so
    a long video never has to be held in memory."""

    def __init__(self) -> None:
        self.previous: torch.Tensor | None = None
        self.changes: list[float] = []
        self.warped: list[float] = []
        self.kept: list[float] = []  # share of pixels the warping error counts, per pair

    def add(self, frame: torch.Tensor, flow: Flow | None = None, cv2: Any = None) -> None:
        """frame: (3, H, W) in [0, 1]; flow: from this frame's input to the previous one's
        (None: no motion compensation). A frame of another size restarts the stream."""
        if self.previous is not None and self.previous.shape == frame.shape:
            self.changes.append(float((frame.float() - self.previous.float()).abs().mean()))
            if flow is not None:
                change = warped_pair_change(self.previous, frame, flow, cv2)
                if change is not None:
                    self.warped.append(change)
                    self.kept.append(float(flow.valid.mean()))
        self.previous = frame

    @property
    def change(self) -> float:
        """Mean frame change so far, in [0, 1] (0.0 before two frames)."""
        return float(np.mean(self.changes)) if self.changes else 0.0

    @property
    def warped_change(self) -> float | None:
        """Mean motion-compensated change so far (the warping error), in [0, 1]; None without
        flows."""
        return float(np.mean(self.warped)) if self.warped else None

    @property
    def kept_share(self) -> float | None:
        """Mean share of the pixels that are not masked as occluded, in [0, 1]; None without
        flows."""
        return float(np.mean(self.kept)) if self.kept else None


def temporal_error(output_change: float | None, input_change: float | None) -> float | None:
    """output_change / input_change, or None when either is missing or the input counts as
    static (input_change < MIN_INPUT_CHANGE)."""
    if output_change is None or input_change is None or input_change < MIN_INPUT_CHANGE:
        return None
    return output_change / input_change
