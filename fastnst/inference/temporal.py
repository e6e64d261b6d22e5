"""Steadier video without retraining: each stylized frame is blended with the previous result,
warped onto it along the optical flow of the input frames.

A feed-forward style net paints each frame afresh. Its strided convolutions are not
shift-invariant, so a scene that moves by a pixel gets a differently placed brush texture:
that local "swimming" is most of the flicker. Per pixel, with the backward flow from input
frame t to t-1 (fastnst.inference.flow: OpenCV's DIS, on frames scaled to at most
FLOW_MAX_SIZE px),

    O'_t = O_t + w * M * (warp(O'_{t-1}) - O_t),   M = exp(-alpha * |I_t - warp(I_{t-1})|^2)

where O_t is the stylized frame, O'_{t-1} the previous result, w = `weight` and M the
visibility mask of the short-term temporal loss of Lai et al. 2018 ("Learning Blind Video
Temporal Consistency", alpha = 50; |.|^2 summed over RGB in [0, 1]): where the warped input
does not match (the scene was hidden, the flow is wrong) M is about 0 and the frame is kept
as stylized; a frame with few matches (a shot cut, CUT_MATCH) is kept whole. The filter is
causal and streams (one flow per frame, no look-ahead); it acts on the finished frames, so it
works with every backend and control.

Averaging two paintings whose strokes sit in different places keeps the strokes' placement
but lowers their contrast (two independent textures averaged at w = 0.6 keep about 72% of
their standard deviation): the picture looks blurred, and the per-frame style error rose by
a quarter. So the blend's detail (what a Gaussian of DETAIL_SIGMA px removes) is then scaled,
per pixel, to the local contrast of the current stylized frame's own detail (the gain is at
least 1, never removes detail, and at most MAX_DETAIL_GAIN, so noise in flat regions is not
blown up): O'_t = low(B) + g * (B - low(B)), g = clip(sqrt(low(|O_t - low(O_t)|^2) /
low(|B - low(B)|^2)), 1, MAX_DETAIL_GAIN), B the blend. The result stays where the blend
put it, which is what steadies the video, with the contrast a painted frame has. It is the
state the next frame blends with. Measured in the README ("Stable video").

Why not instance-norm statistics shared over time (the tiling hooks' idea)? We measured it on
the camera pan of the README: an exponential moving average of every InstanceNorm2d's mean
and variance (weights 0.8 and 0.95 of the past), and even the first frame's statistics
frozen, changed the temporal error by under 3% (0.997 to 1.022 of frame-by-frame), because
the statistics of a moving shot barely change between frames: the flicker is local.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from fastnst.core.errors import FastNSTError
from fastnst.inference.flow import FlowEstimator, hwc_array

# Weight of the warped previous result, w above. Our measurement (README, "Stable video"; the
# shipped starry_night on the real carphone clip, warping error over the input's and
# per-frame style error): per frame 2.90x, 0.222; plain blends w = 0.3, 0.5: 2.17x at +12%,
# 1.73x at +24%; with the detail restored, w = 0.5: 2.01x at +5%, w = 0.6: 1.83x at +7%.
DEFAULT_WEIGHT = 0.6
# Detail restoration (module doc): Gaussian sigma, in px, that separates detail from the
# picture, and the largest gain. Measured at w = 0.5 on carphone: sigma 2 -> 2.01x at +5%,
# sigma 4 -> 1.93x at +9%; without feeding the restored frame back, 2.07x at +6%.
DETAIL_SIGMA = 2.0
MAX_DETAIL_GAIN = 2.0
# Occlusion mask sharpness (Lai et al. 2018, alpha = 50 for RGB in [0, 1]).
MASK_ALPHA = 50.0
# A frame whose mean mask is below this starts a new shot (no blending at all). Our
# measurement at 320 x 240: consecutive frames of the pans over chicago and flowers match at
# 0.90 and 0.63 at least; the 110 cuts between 11 unrelated photos at 0.19 at most (median
# 0.05).
CUT_MATCH = 0.3
# The flow is estimated on frames scaled to at most this long side, in px, and scaled back:
# DIS (medium preset) takes about 25 ms per 480 x 270 frame on one CPU core (our
# measurement), and blending needs no finer flow than the brush strokes.
FLOW_MAX_SIZE = 480


def import_cv2(user: str = "--temporal") -> Any:
    """OpenCV's module; FastNSTError naming `user` and the extra when it is not installed."""
    try:
        import cv2
    except ImportError:
        hint = " (or pass --no-temporal)" if user == "--temporal" else ""
        raise FastNSTError(f"{user} needs OpenCV: pip install 'fastnst[video]'{hint}") from None
    return cv2


class TemporalFilter:
    """Blends each stylized frame with the previous result along the flow (see module doc).

    Feed the frames of one video in order; a frame of another size starts afresh, as does
    `reset()`. weight: w in [0, 1) (0 returns the frames unchanged). alpha: mask sharpness.
    flow_max_size: long side, in px, of the frames the flow is estimated on. detail_sigma:
    Gaussian sigma, in px, of the detail whose contrast is restored after blending (0: a
    plain blend); max_detail_gain: the largest contrast gain, >= 1.
    """

    def __init__(self, weight: float = DEFAULT_WEIGHT, alpha: float = MASK_ALPHA,
                 flow_max_size: int = FLOW_MAX_SIZE, detail_sigma: float = DETAIL_SIGMA,
                 max_detail_gain: float = MAX_DETAIL_GAIN) -> None:
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"weight must be in [0, 1), not {weight}")
        if detail_sigma < 0.0 or max_detail_gain < 1.0:
            raise ValueError(f"detail_sigma must be >= 0 and max_detail_gain >= 1, not "
                             f"{detail_sigma} and {max_detail_gain}")
        self.cv2 = import_cv2()
        self.weight, self.alpha = weight, alpha
        self.detail_sigma, self.max_detail_gain = detail_sigma, max_detail_gain
        # no forward-backward check: the photometric mask M already rejects bad matches
        self.flow = FlowEstimator(self.cv2, "dis", flow_max_size)
        self.reset()

    def reset(self) -> None:
        """Forget the previous frame: the next one starts a new shot."""
        self._input: np.ndarray | None = None  # (H, W, 3) previous input frame
        self._gray: np.ndarray | None = None  # (h, w) uint8, the flow's resolution
        self._output: np.ndarray | None = None  # (H, W, 3) previous result
        self.match: float | None = None  # mean mask of the last frame, in [0, 1]

    def __call__(self, frame: torch.Tensor, stylized: torch.Tensor) -> torch.Tensor:
        """frame: the input (3, H, W) in [0, 1]; stylized: its stylized (3, H, W) in [0, 1].
        Returns the blended (3, H, W) float32 frame on the CPU."""
        if frame.shape != stylized.shape:
            raise ValueError(f"frame {tuple(frame.shape)} and stylized "
                             f"{tuple(stylized.shape)} differ in shape")
        cv2 = self.cv2
        image, output = hwc_array(frame), hwc_array(stylized)
        gray = self.flow.gray(image)
        if (self.weight > 0.0 and self._input is not None and self._output is not None
                and self._gray is not None and self._input.shape == image.shape):
            height, width = image.shape[:2]
            flow = self.flow(self._gray, gray, height, width)
            warp = {"interpolation": cv2.INTER_LINEAR, "borderMode": cv2.BORDER_REPLICATE}
            warped_input = cv2.remap(self._input, flow.map_x, flow.map_y, **warp)
            warped_output = cv2.remap(self._output, flow.map_x, flow.map_y, **warp)
            mismatch = ((image - warped_input) ** 2).sum(axis=2)  # (H, W)
            # pixels that came from outside the last frame keep theirs (flow.valid)
            mask = np.exp(-self.alpha * mismatch) * flow.valid  # (H, W)
            self.match = float(mask.mean())
            if self.match >= CUT_MATCH:  # else a shot cut: chance matches must not blend
                blend = (self.weight * mask)[..., None]  # (H, W, 1)
                blended = (output + blend * (warped_output - output)).astype(np.float32)
                output = self._restore_detail(blended, output)
        self._input, self._gray, self._output = image, gray, output
        return torch.from_numpy(output).permute(2, 0, 1).contiguous()

    def _restore_detail(self, blended: np.ndarray, current: np.ndarray) -> np.ndarray:
        """blended, current: (H, W, 3) float32 in [0, 1]. Returns `blended` with its detail
        scaled to the local contrast of `current`'s detail (module doc), (H, W, 3) float32."""
        if self.detail_sigma == 0.0:
            return blended

        def low(image: np.ndarray) -> np.ndarray:  # Gaussian low-pass, same shape
            return self.cv2.GaussianBlur(image, (0, 0), self.detail_sigma)

        base = low(blended)
        detail = blended - base
        current_detail = current - low(current)
        blended_power = low((detail ** 2).sum(axis=2))  # (H, W) local detail power
        current_power = low((current_detail ** 2).sum(axis=2))
        # flat regions: both powers ~0, the ratio is 0 or noise; the clip makes the gain 1
        gain = np.sqrt(current_power / (blended_power + 1e-6))
        gain = np.clip(gain, 1.0, self.max_detail_gain)[..., None]  # (H, W, 1)
        return np.clip(base + gain * detail, 0.0, 1.0).astype(np.float32)
