"""Flicker of stylized video: how much consecutive output frames change, next to the input's.

- frame change: mean over consecutive pairs of mean |F_t - F_{t-1}| over pixels and channels,
  pixel values in [0, 1];
- with optical flow (OpenCV's Farneback): the same mean after warping F_{t-1} onto frame t
  along the flow of the *input* frames, over the pixels the flow maps consistently (the
  forward-backward check of Ruder et al. 2016, "Artistic style transfer for videos") and
  inside the frame, so motion itself no longer counts;
- temporal error: the output's change divided by the input's (1: the output changes as much
  as the input does; lower is steadier). Undefined (None) when the input barely changes: a
  static clip gives a meaningful figure only motion-compensated, or as the absolute change.

Frames are float RGB tensors (T, 3, H, W) in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

# Below this mean change (pixel values in [0, 1], 1/40 of an 8-bit level) the input counts as
# static and ratios to it are not reported.
MIN_INPUT_CHANGE = 1e-4
# Farneback parameters of OpenCV's optical-flow tutorial: pyramid scale 0.5, 3 levels,
# 15 px window, 3 iterations, 5 px polynomial neighbourhood with sigma 1.2.
_FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)
# Forward-backward consistency (Ruder et al. 2016, disocclusion test): a pixel is kept when
# |b + f|^2 <= 0.01 (|b|^2 + |f|^2) + 0.5 px^2. The metric's flow (Farneback) differs from
# the one --temporal blends along (DIS), so the filter is not scored with its own flow.
_CONSISTENCY = (0.01, 0.5)


def frame_change(frames: torch.Tensor) -> float:
    """Mean over consecutive pairs of mean |F_t - F_{t-1}|; frames (T, 3, H, W) in [0, 1],
    T >= 2. Returns a value in [0, 1]."""
    if frames.shape[0] < 2:
        raise ValueError("frame change needs at least two frames")
    pairs = (frames[1:].float() - frames[:-1].float()).abs()  # (T - 1, 3, H, W)
    return float(pairs.mean(dim=(1, 2, 3)).mean())


@dataclass(frozen=True)
class Flow:
    """Where each pixel of frame t was in frame t-1, for one consecutive pair.

    map_x, map_y: (H, W) float32 source coordinates in frame t-1, in px (cv2.remap maps).
    valid: (H, W) bool, True where the flow is consistent and stays inside the frame.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray


def _gray(frame: torch.Tensor, cv2: Any) -> np.ndarray:
    rgb = (frame.float().clamp(0, 1) * 255).round().byte().permute(1, 2, 0).numpy()  # (H, W, 3)
    return cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2GRAY)


def input_flow(before: torch.Tensor, now: torch.Tensor, cv2: Any) -> Flow:
    """The backward flow from input frame `now` to `before`, both (3, H, W) in [0, 1]."""
    gray_before, gray_now = _gray(before, cv2), _gray(now, cv2)
    height, width = gray_now.shape
    grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)  # (H, W) each
    backward = cv2.calcOpticalFlowFarneback(gray_now, gray_before, None, *_FARNEBACK)  # (H, W, 2)
    forward = cv2.calcOpticalFlowFarneback(gray_before, gray_now, None, *_FARNEBACK)
    map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
    inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
    # the forward flow at the point each pixel came from: it should undo the backward one
    there = cv2.remap(forward, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    scale, offset = _CONSISTENCY
    consistent = ((backward + there) ** 2).sum(-1) <= scale * (
        (backward ** 2).sum(-1) + (there ** 2).sum(-1)) + offset
    return Flow(map_x, map_y, inside & consistent)


def warped_pair_change(before: torch.Tensor, now: torch.Tensor, flow: Flow,
                       cv2: Any) -> float | None:
    """Mean |now - warp(before)| over the flow's valid pixels and the channels; frames
    (3, H, W) in [0, 1]. None when no pixel is valid."""
    if not flow.valid.any():
        return None
    before_hwc = before.float().permute(1, 2, 0).contiguous().numpy()  # (H, W, 3)
    warped = cv2.remap(before_hwc, flow.map_x, flow.map_y, cv2.INTER_LINEAR,
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
    """The frame change (and warped change) of one stream of frames, one frame at a time, so
    a long video never has to be held in memory."""

    def __init__(self) -> None:
        self.previous: torch.Tensor | None = None
        self.changes: list[float] = []
        self.warped: list[float] = []

    def add(self, frame: torch.Tensor, flow: Flow | None = None, cv2: Any = None) -> None:
        """frame: (3, H, W) in [0, 1]; flow: from this frame's input to the previous one's
        (None: no motion compensation). A frame of another size restarts the stream."""
        if self.previous is not None and self.previous.shape == frame.shape:
            self.changes.append(float((frame.float() - self.previous.float()).abs().mean()))
            if flow is not None:
                change = warped_pair_change(self.previous, frame, flow, cv2)
                if change is not None:
                    self.warped.append(change)
        self.previous = frame

    @property
    def change(self) -> float:
        """Mean frame change so far, in [0, 1] (0.0 before two frames)."""
        return float(np.mean(self.changes)) if self.changes else 0.0

    @property
    def warped_change(self) -> float | None:
        """Mean motion-compensated change so far; None without flows."""
        return float(np.mean(self.warped)) if self.warped else None


def temporal_error(output_change: float | None, input_change: float | None) -> float | None:
    """output_change / input_change, or None when either is missing or the input counts as
    static (input_change < MIN_INPUT_CHANGE)."""
    if output_change is None or input_change is None or input_change < MIN_INPUT_CHANGE:
        return None
    return output_change / input_change
