"""A synthetic camera move over a real photo: a slow pan with a zoom, written as H.264."""
import sys

import av
from PIL import Image


def make_pan(photo, target, frames=48, size=(320, 240), rate=24, start=0.85, end=0.7):
    image = Image.open(photo).convert("RGB")
    width, height = image.size
    with av.open(target, "w") as out:
        stream = out.add_stream("libx264", rate=rate)
        stream.width, stream.height, stream.pix_fmt = *size, "yuv420p"
        stream.options = {"crf": "18"}
        for t in range(frames):
            s = t / (frames - 1)
            zoom = start + (end - start) * s            # crop height / photo height
            crop_h = height * zoom
            crop_w = crop_h * size[0] / size[1]
            left = (width - crop_w) * s                 # pan left to right
            top = (height - crop_h) * (0.3 + 0.4 * s)   # and a little down
            frame = image.transform(size, Image.Transform.EXTENT,
                                    (left, top, left + crop_w, top + crop_h),
                                    Image.Resampling.BICUBIC)
            video = av.VideoFrame.from_image(frame)
            video.pts = t
            out.mux(stream.encode(video))
        out.mux(stream.encode(None))

if __name__ == "__main__":
    make_pan(sys.argv[1], sys.argv[2], frames=int(sys.argv[3]) if len(sys.argv) > 3 else 48)
