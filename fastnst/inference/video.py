"""Stylizing video files frame by frame, with PyAV (FFmpeg's decoders, encoders and muxers).

Frames are decoded, stylized in batches and encoded as H.264 (libx264; MPEG-4 Part 2 where
FFmpeg lacks libx264) with the source's timestamps, so the frame rate and audio sync are
kept. The first audio stream is copied unchanged when the output container can hold its
codec, else re-encoded to AAC; other streams (subtitles, data) are dropped. The output is
written to a temporary file and renamed into place only when complete. With `temporal`, each
stylized frame is blended with the previous one along the optical flow, which reduces flicker
(fastnst.inference.temporal). Decoding and encoding run in threads of their own, with a
bounded queue on each side of the stylizing loop (a pipeline), so the net does not wait on
I/O; errors there reach the caller as they would without threads.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from fastnst.core.errors import FastNSTError
from fastnst.core.images import atomic_output, resize_long_side, to_pil, to_tensor
from fastnst.inference.pipeline import Drain, Prefetch
from fastnst.inference.stylizer import BaseStylizer
from fastnst.inference.temporal import TemporalFilter

# Inputs with these suffixes are treated as videos by fastnst-stylize.
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
# Output containers that hold H.264 and common audio codecs, by suffix -> FFmpeg muxer name.
OUTPUT_FORMATS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}
# x264's constant-rate factor: 18 is about visually lossless (x264 documentation).
_X264_CRF = "18"
# MPEG-4 Part 2 fallback bit rate, in bits per pixel per frame (about 7 Mbit/s at 1080p30).
_MPEG4_BITS_PER_PIXEL = 0.12
_DEFAULT_RATE = Fraction(30)


def is_video(path: str | Path) -> bool:
    """True when the file name has a video suffix (see VIDEO_SUFFIXES)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


@dataclass(frozen=True)
class VideoReport:
    """What stylize_video did: frame count, output size in px, wall time in s, audio handling
    ('copied', 're-encoded' or 'none')."""

    frames: int
    width: int
    height: int
    seconds: float
    audio: str

    @property
    def frames_per_s(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def _import_av() -> Any:
    try:
        import av
    except ImportError:
        raise FastNSTError("video needs PyAV: pip install 'fastnst[video]'") from None
    return av


def _video_encoder(av: Any) -> str:
    try:
        av.Codec("libx264", "w")
        return "libx264"
    except Exception:  # av.codec.codec.UnknownCodecError: FFmpeg built without x264
        return "mpeg4"


def _open_video(av: Any, source: Path) -> Any:
    """An open PyAV container of `source` with at least one video stream."""
    if not source.is_file():
        raise FastNSTError(f"no such file: {source}")
    try:
        container = av.open(str(source))
    except av.FFmpegError as err:
        raise FastNSTError(f"{source}: cannot read video ({err.strerror or err})") from None
    if not container.streams.video:
        container.close()
        raise FastNSTError(f"{source}: no video stream")
    return container


def _check_size(width: int, height: int, max_pixels: int | None) -> None:
    if max_pixels is not None and width * height > max_pixels:
        raise FastNSTError(f"{width}x{height} frames are over the limit of "
                           f"{max_pixels / 1e6:.0f} MP (raise it with --max-pixels)")


@dataclass(frozen=True)
class DecodedFrame:
    """One decoded video frame: image (3, H, W) float32 in [0, 1]; its presentation time
    stamp pts in units of time_base seconds (None for raw streams without timestamps)."""

    image: torch.Tensor
    pts: int | None
    time_base: Fraction | None


def _decode(av: Any, container: Any, source: Path, max_size: int | None,
            on_packet: Callable[[Any], None] | None = None) -> Iterator[DecodedFrame]:
    """The frames of the first video stream of an open container, in display order,
    downscaled so the long side is at most `max_size` px.

    on_packet: called with every packet of the first audio stream, in file order (None: audio
    is not read). Raises FastNSTError when a frame's size differs from the stream's: an
    output (and the flicker metric) is for one frame size, and an encoder would silently
    stretch the others.
    """
    video = container.streams.video[0]
    video.thread_type = "AUTO"  # decode with frame threads
    audio = container.streams.audio[0] if on_packet and container.streams.audio else None
    size = (video.codec_context.width, video.codec_context.height)
    index = 0
    for packet in container.demux([video] if audio is None else [video, audio]):
        if packet.stream is not video:
            assert on_packet is not None
            on_packet(packet)
            continue
        for frame in packet.decode():
            if (frame.width, frame.height) != size:
                raise FastNSTError(
                    f"{source}: the frame size changes mid-stream: frame {index + 1} is "
                    f"{frame.width}x{frame.height}, the stream {size[0]}x{size[1]} (split "
                    "the clip where it changes)")
            yield DecodedFrame(to_tensor(resize_long_side(frame.to_image(), max_size)),
                               frame.pts, frame.time_base)
            index += 1


def read_frames(source: str | Path, max_size: int | None = None,
                max_pixels: int | None = None) -> Iterator[torch.Tensor]:
    """Decode the first video stream of `source` frame by frame, in display order.

    Yields (3, H, W) float32 frames in [0, 1], downscaled so the long side is at most
    `max_size` px (None: as stored). Raises FastNSTError for a missing or unreadable file, one
    without a video stream, frames over `max_pixels` pixels, a frame size that changes
    mid-stream, or a decoding failure.
    """
    av = _import_av()
    source = Path(source)
    with _open_video(av, source) as container:
        stream = container.streams.video[0]
        _check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
        try:
            for frame in _decode(av, container, source, max_size):
                yield frame.image
        except av.FFmpegError as err:
            raise FastNSTError(f"{source}: video decoding failed ({err})") from None


def stylize_video(stylizer: BaseStylizer, source: str | Path, target: str | Path,
                  batch_size: int = 4, max_size: int | None = None,
                  max_pixels: int | None = None, progress: bool = True,
                  temporal: bool = False, pipelined: bool = True) -> VideoReport:
    """Stylize every frame of the video `source` into `target` (.mp4, .m4v, .mov or .mkv).

    batch_size: frames per forward pass. max_size: downscale frames so the long side is at
    most this many px first. max_pixels: refuse frames with more pixels. progress: a progress
    bar on stderr when it is a terminal. temporal: blend
    each stylized frame with the previous one along the optical flow to reduce flicker
    (TemporalFilter; needs OpenCV). pipelined: decode (and copy the audio) in one thread and
    encode in another, with a batch of frames queued on each side of the stylizing loop, so
    the net never waits on I/O (False: the same steps one after the other, in this thread;
    the output is the same). A one-frame clip gives a one-frame video. Raises FastNSTError
    for an unreadable source, one without a video stream or without frames, one whose frame
    size changes mid-stream, an unsupported target suffix, or temporal without OpenCV; no
    output file is left behind on failure.
    """
    av = _import_av()
    source, target = Path(source), Path(target)
    if target.suffix.lower() not in OUTPUT_FORMATS:
        raise FastNSTError(f"{target}: video output must end in "
                           f"{', '.join(OUTPUT_FORMATS)}")
    smoother = TemporalFilter() if temporal else None
    with _open_video(av, source) as container:
        try:
            with atomic_output(target) as tmp:
                return _transcode(av, stylizer, container, source, tmp, OUTPUT_FORMATS[
                    target.suffix.lower()], batch_size, max_size, max_pixels, progress,
                    smoother, pipelined)
        except av.FFmpegError as err:
            raise FastNSTError(f"{source}: video processing failed ({err})") from None


def _transcode(av: Any, stylizer: BaseStylizer, container: Any, source: Path, tmp: Path,
               muxer: str, batch_size: int, max_size: int | None, max_pixels: int | None,
               progress: bool, smoother: TemporalFilter | None,
               pipelined: bool) -> VideoReport:
    video_in = container.streams.video[0]
    audio_in = container.streams.audio[0] if container.streams.audio else None
    width, height = video_in.codec_context.width, video_in.codec_context.height
    _check_size(width, height, max_pixels)
    if max_size is not None and max(width, height) > max_size:
        scale = max_size / max(width, height)
        width, height = max(1, round(width * scale)), max(1, round(height * scale))
    rate = video_in.average_rate or video_in.guessed_rate or _DEFAULT_RATE

    with av.open(str(tmp), "w", format=muxer) as output:
        encoder = _video_encoder(av)
        video_out = output.add_stream(encoder, rate=rate)
        video_out.width, video_out.height = width, height
        # 4:2:0 needs even sizes; x264 also encodes 4:4:4, which takes odd ones.
        video_out.pix_fmt = "yuv420p" if width % 2 == 0 and height % 2 == 0 else "yuv444p"
        if encoder == "libx264":
            video_out.options = {"crf": _X264_CRF}
        elif video_out.pix_fmt != "yuv420p":
            raise FastNSTError(f"{width}x{height}: odd frame sizes need FFmpeg with libx264")
        else:
            video_out.bit_rate = int(width * height * float(rate) * _MPEG4_BITS_PER_PIXEL)
        audio = "none"
        audio_out = None
        if audio_in is not None:
            if audio_in.codec_context.name in output.supported_codecs:
                audio_out, audio = output.add_stream_from_template(audio_in), "copied"
            else:
                audio_out = output.add_stream("aac", rate=audio_in.codec_context.sample_rate)
                audio = "re-encoded"
        # the decoding side muxes audio while the encoding side muxes video
        mux_lock = threading.Lock()

        def mux(packets: Any) -> None:
            with mux_lock:
                output.mux(packets)

        def pass_audio(packet: Any) -> None:
            if audio == "copied":
                if packet.dts is not None:  # the demuxer's final flush packet has none
                    packet.stream = audio_out
                    mux(packet)
            else:
                for audio_frame in packet.decode():
                    audio_frame.pts = None  # the encoder restamps by sample count
                    mux(audio_out.encode(audio_frame))

        count = 0

        def encode(item: tuple[torch.Tensor, DecodedFrame]) -> None:
            nonlocal count
            stylized, decoded = item
            frame = av.VideoFrame.from_image(to_pil(stylized))
            pts, time_base = decoded.pts, decoded.time_base
            if pts is None:  # containers without timestamps (raw streams): one per frame
                pts, time_base = count, 1 / rate
            frame.pts, frame.time_base = pts, time_base
            mux(video_out.encode(frame))
            count += 1

        started = time.perf_counter()
        decoded = _decode(av, container, source, max_size,
                          pass_audio if audio_in is not None else None)
        # a batch queued on each side: the decoder prepares the next batch and the encoder
        # writes the last one while the net runs (torch releases the GIL during its ops)
        queued = batch_size if pipelined else 0
        with (Prefetch(decoded, queued, "fastnst-decode") as frames,
              Drain(encode, queued, "fastnst-encode") as sink):
            waiting: deque[DecodedFrame] = deque()  # frames in the net, in order

            def images() -> Iterator[torch.Tensor]:
                for frame in frames:
                    waiting.append(frame)
                    yield frame.image

            for stylized in tqdm(stylizer.stylize_batches(images(), batch_size),
                                 total=video_in.frames or None, unit="frame",
                                 # None: only on a terminal, so logs and pipes get no bar
                                 # before an error line
                                 disable=None if progress else True, leave=False):
                frame = waiting.popleft()
                if smoother is not None:
                    stylized = smoother(frame.image, stylized)
                sink.put((stylized, frame))
            sink.close()
        if count == 0:
            raise FastNSTError(f"{source}: the video has no decodable frames")
        mux(video_out.encode(None))
        if audio == "re-encoded":
            mux(audio_out.encode(None))
    return VideoReport(count, width, height, time.perf_counter() - started, audio)
