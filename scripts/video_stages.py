"""CPU time per frame of each stage of stylizing a video: decoding (+ conversion to tensors),
the net (per model), and x264 encoding. Process CPU time, all threads counted, so other jobs on
the machine do not inflate it (wall-clock frames/s is what `fastnst-stylize` prints).

    python scripts/video_stages.py CLIP [--max-size PX] [--frames N] --models M1 [M2 ...]

A model ending in .onnx runs in onnxruntime, any other in torch.
"""

from __future__ import annotations

import argparse
import time

import av
import torch

from fastnst.core.images import to_pil
from fastnst.inference.backends import load_stylizer
from fastnst.inference.video import read_frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("clip")
    parser.add_argument("--max-size", type=int, default=None)
    parser.add_argument("--frames", type=int, default=40, help="frames stylized per model")
    parser.add_argument("--models", nargs="+", required=True)
    args = parser.parse_args()
    started = time.process_time()
    frames = list(read_frames(args.clip, args.max_size))
    decode = (time.process_time() - started) / len(frames)
    count = min(args.frames, len(frames)) // 4 * 4  # whole batches of 4, as fastnst-stylize
    outputs: list[torch.Tensor] = []
    for model in args.models:
        backend = "onnx" if model.endswith(".onnx") else "torch"
        stylizer = load_stylizer(model, backend, "cpu", "32")
        stylizer.stylize_tensor(torch.stack(frames[:4]))  # warm-up
        started = time.process_time()
        outputs = [out for i in range(0, count, 4)
                   for out in stylizer.stylize_tensor(torch.stack(frames[i:i + 4]))]
        print(f"{model} ({backend}): stylize "
              f"{1000 * (time.process_time() - started) / count:.0f} ms CPU/frame")
    started = time.process_time()
    with av.open("/dev/null", "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = outputs[0].shape[-1], outputs[0].shape[-2]
        stream.pix_fmt, stream.options = "yuv420p", {"crf": "18"}  # as fastnst-stylize
        for index, image in enumerate(outputs):
            frame = av.VideoFrame.from_image(to_pil(image))
            frame.pts = index
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    encode = (time.process_time() - started) / len(outputs)
    print(f"{args.clip} {tuple(frames[0].shape)}: decode+convert {1000 * decode:.0f} ms, "
          f"encode {1000 * encode:.0f} ms CPU/frame")


if __name__ == "__main__":
    main()
