"""Optical flow between consecutive video frames, with OpenCV: the one routine behind the
--temporal filter (fastnst.inference.temporal) and the warping error of fastnst-eval video
(fastnst.evaluation.temporal).

For frames t-1 and t it returns the *backward* flow as cv2.remap maps (where each pixel of
frame t was in frame t-1), so `cv2.remap(frame_before, map_x, map_y, ...)` warps frame t-1
onto frame t, and a mask of the pixels the flow can be trusted for: those that come from
inside frame t-1 and, when asked, pass the forward-backward consistency test of Ruder et al.
2016 ("Artistic style transfer for videos", eq. 4), which flags disocclusions and flow errors
(the occlusion mask of Lai et al. 2018's warping error). Two estimators:

- "dis": DIS (Kroeger et al. 2016), OpenCV's medium preset: about 25 ms per 480 x 270 frame
  on one CPU core (our measurement); the filter's, on frames scaled down to `max_size`;
- "farneback": Farneback 2003 with the parameters of OpenCV's optical-flow tutorial; slower,
  at full size: the metric's, so the filter is never scored with its own flow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

FLOW_METHODS = ("dis", "farneback")
# Farneback parameters of OpenCV's optical-flow tutorial: pyramid scale 0.5, 3 levels,
# 15 px window, 3 iterations, 5 px polynomial neighbourhood with sigma 1.2.
_FARNEBACK = (0.5, 3, 15, 3, 5, 1.2, 0)
# Forward-backward consistency (Ruder et al. 2016, disocclusion test): a pixel is kept when
# |b + f|^2 <= 0.01 (|b|^2 + |f|^2) + 0.5 px^2, b the backward flow at the pixel and f the
# forward flow where it came from.
CONSISTENCY = (0.01, 0.5)



def hwc_array(frame: torch.Tensor) -> np.ndarray:
    """(3, H, W) float tensor -> (H, W, 3) float32 contiguous array (OpenCV's layout)."""
    return np.ascontiguousarray(frame.detach().float().cpu().permute(1, 2, 0).numpy())


@dataclass(frozen=True)
class Flow:
    """Where each pixel of frame t was in frame t-1, for one consecutive pair.

    map_x, map_y: (H, W) float32 source coordinates in frame t-1, in px (cv2.remap maps).
    valid: (H, W) bool, True where the source lies inside frame t-1 (between its outer pixel
    centres) and, if the estimator checks it, the flow is consistent.
    """

    map_x: np.ndarray
    map_y: np.ndarray
    valid: np.ndarray


class FlowEstimator:
    """Backward optical flow of consecutive frames (see the module doc).

    method: "dis" or "farneback". max_size: estimate on frames scaled so the long side is at
    most this many px, and scale the flow back (None: full size). check: also estimate the
    forward flow and mask inconsistent pixels (doubles the cost). cv2: OpenCV's module.
    """

    def __init__(self, cv2: Any, method: str = "dis", max_size: int | None = None,
                 check: bool = False) -> None:
        if method not in FLOW_METHODS:
            raise ValueError(f"flow method must be one of {FLOW_METHODS}, not {method!r}")
        self.cv2, self.method, self.max_size, self.check = cv2, method, max_size, check
        # one DIS object per estimator: it keeps buffers between calls, not frames
        self._dis = (cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
                     if method == "dis" else None)

    def gray(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) float32 RGB in [0, 1] -> (h, w) uint8 luma at the estimator's size."""
        cv2 = self.cv2
        height, width = image.shape[:2]
        if self.max_size is not None and max(height, width) > self.max_size:
            scale = self.max_size / max(height, width)
            image = cv2.resize(image, (max(1, round(width * scale)),
                                       max(1, round(height * scale))),
                               interpolation=cv2.INTER_AREA)
        gray = cv2.cvtColor(np.ascontiguousarray(image, dtype=np.float32), cv2.COLOR_RGB2GRAY)
        return (np.clip(gray, 0.0, 1.0) * 255).round().astype(np.uint8)

    def _flow(self, source: np.ndarray, target: np.ndarray, height: int,
              width: int) -> np.ndarray:
        """(H, W, 2) float32 flow from `source` to `target` (gray), in full-size px."""
        cv2 = self.cv2
        if self._dis is not None:
            flow = self._dis.calc(source, target, None)
        else:
            flow = cv2.calcOpticalFlowFarneback(source, target, None, *_FARNEBACK)
        if flow.shape[:2] != (height, width):
            scale_x, scale_y = width / flow.shape[1], height / flow.shape[0]
            flow = cv2.resize(flow, (width, height), interpolation=cv2.INTER_LINEAR)
            flow[..., 0] *= scale_x
            flow[..., 1] *= scale_y
        return flow

    def __call__(self, gray_before: np.ndarray, gray_now: np.ndarray, height: int,
                 width: int) -> Flow:
        """The flow from frame t (gray_now) back to t-1 (gray_before), both from `gray`, for
        frames of height x width px."""
        backward = self._flow(gray_now, gray_before, height, width)  # (H, W, 2)
        grid_y, grid_x = np.mgrid[0:height, 0:width].astype(np.float32)  # (H, W) each
        map_x, map_y = grid_x + backward[..., 0], grid_y + backward[..., 1]
        # a source beyond the outer pixel centres would be extrapolated (border replicated)
        valid = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        if self.check:
            forward = self._flow(gray_before, gray_now, height, width)
            # the forward flow at the point each pixel came from: it should undo the backward
            there = self.cv2.remap(forward, map_x, map_y, self.cv2.INTER_LINEAR,
                                   borderMode=self.cv2.BORDER_REPLICATE)
            scale, offset = CONSISTENCY
            valid &= ((backward + there) ** 2).sum(-1) <= scale * (
                (backward ** 2).sum(-1) + (there ** 2).sum(-1)) + offset
        return Flow(map_x, map_y, valid)
