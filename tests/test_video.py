"""Video stylizing with tiny synthetic clips made by PyAV (8 frames, 64 x 48 px, 24 fps)."""

from __future__ import annotations

import sys
import threading
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from fastnst.cli.eval import main as eval_main
from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.inference import video as video_module
from fastnst.inference.stylizer import Stylizer
from fastnst.inference.video import read_frames, stylize_video
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet

av = pytest.importorskip("av")
pytestmark = pytest.mark.usefixtures("one_thread")

FRAMES, WIDTH, HEIGHT, RATE, SAMPLE_RATE = 8, 64, 48, 24, 16000


def make_clip(path: Path, audio_codec: str | None, frames: int = FRAMES) -> Path:
    """Random frames as H.264 plus a 440 Hz tone in `audio_codec` (None: no audio)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                               rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream(audio_codec, rate=SAMPLE_RATE) if audio_codec else None
        for index in range(frames):
            pixels = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            out.mux(video.encode(frame))
        out.mux(video.encode(None))
        if audio is not None:
            samples = SAMPLE_RATE * FRAMES // RATE
            tone = np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE) * 0.3 * 32767
            sound = av.AudioFrame.from_ndarray(tone.astype(np.int16)[None], format="s16",
                                               layout="mono")
            sound.sample_rate, sound.pts = SAMPLE_RATE, 0
            out.mux(audio.encode(sound))
            out.mux(audio.encode(None))
    return path


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = list(container.decode(video))
        audio = container.streams.audio
        return {"frames": len(frames), "size": (frames[0].width, frames[0].height),
                "rate": video.average_rate,
                "audio": audio[0].codec_context.name if audio else None}


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("model") / "tiny.ckpt"
    return save_model(TransformerNet(width=0.25), path)


def test_cli_stylizes_video_keeping_frames_size_rate_and_audio(tmp_path, model, capsys):
    source = make_clip(tmp_path / "clip.mp4", "aac")
    target = tmp_path / "out.mp4"
    assert stylize_main([str(source), "--model", str(model), "-o", str(target),
                         "--batch-size", "3", "--device", "cpu"]) == 0
    printed = capsys.readouterr().out
    assert "8 frames, 64x48" in printed and "frames/s" in printed and "audio copied" in printed
    assert probe(target) == {"frames": FRAMES, "size": (WIDTH, HEIGHT), "rate": Fraction(RATE),
                             "audio": "aac"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


def test_audio_the_container_cannot_hold_is_reencoded(tmp_path, model):
    # A-law PCM fits a .mov but not an .mp4: it becomes AAC; no audio stays no audio.
    stylizer = Stylizer.from_checkpoint(model, device="cpu")
    source = make_clip(tmp_path / "clip.mov", "pcm_alaw")
    report = stylize_video(stylizer, source, tmp_path / "out.mp4", batch_size=8,
                           progress=False)
    assert (report.frames, report.audio) == (FRAMES, "re-encoded")
    assert probe(tmp_path / "out.mp4")["audio"] == "aac"
    silent = make_clip(tmp_path / "silent.mkv", None)
    report = stylize_video(stylizer, silent, tmp_path / "silent.mkv.mp4", max_size=32,
                           progress=False)
    assert report.audio == "none" and (report.width, report.height) == (32, 24)
    assert probe(tmp_path / "silent.mkv.mp4") | {"rate": None} == {
        "frames": FRAMES, "size": (32, 24), "rate": None, "audio": None}


def test_bad_videos_fail_with_one_line_and_no_output(tmp_path, model, capsys):
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    clip = make_clip(tmp_path / "clip.mp4", None)
    cases = [([str(fake)], tmp_path / "a.mp4", "cannot read video"),
             ([str(clip)], tmp_path / "b.png", "needs a video output"),
             ([str(clip)], tmp_path / "c.avi", "video output must end in"),
             ([str(clip), "--max-pixels", "100"], tmp_path / "d.mp4", "over the limit")]
    for inputs, target, message in cases:
        assert stylize_main([*inputs, "--model", str(model), "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnst-stylize: error:") and message in err and "\n" not in err
        assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "fake.mp4"]


def test_missing_pyav_is_a_clear_error(tmp_path, model, monkeypatch):
    monkeypatch.setitem(sys.modules, "av", None)  # import av now raises ImportError
    stylizer = Stylizer.from_checkpoint(model, device="cpu")
    with pytest.raises(FastNSTError, match=r"pip install 'fastnst\[video\]'"):
        stylize_video(stylizer, tmp_path / "in.mp4", tmp_path / "out.mp4")


def test_read_frames_decodes_every_frame_downscaled_and_checks_the_file(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", "aac")
    frames = list(read_frames(clip))
    assert len(frames) == FRAMES
    assert all(f.shape == (3, HEIGHT, WIDTH) and f.dtype == torch.float32 for f in frames)
    # uniform random pixels keep a mean near 0.5 through H.264
    assert abs(float(torch.stack(frames).mean()) - 0.5) < 0.05
    assert {tuple(f.shape) for f in read_frames(clip, max_size=32)} == {(3, 24, 32)}
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    for source, limit, message in [(clip, 100, "over the limit"), (fake, None, "cannot read"),
                                   (tmp_path / "none.mp4", None, "no such file")]:
        with pytest.raises(FastNSTError, match=message):
            list(read_frames(source, max_pixels=limit))


def make_size_change_clip(path: Path) -> Path:
    """One H.264 stream in Matroska whose frames are 64 x 48, then 32 x 24 from the 4th on:
    two raw H.264 streams concatenated (each carries its size in-band), then remuxed."""
    if "libx264" not in av.codecs_available:
        pytest.skip("needs FFmpeg with libx264 (in-band H.264 headers)")
    raw = path.with_suffix(".h264")
    with raw.open("wb") as joined:
        for width, height in ((64, 48), (32, 24)):
            part = path.with_suffix(f".{width}.h264")
            with av.open(str(part), "w", format="h264") as out:
                stream = out.add_stream("libx264", rate=RATE)
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                for index in range(3):
                    pixels = np.full((height, width, 3), 40 * index, dtype=np.uint8)
                    frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                    frame.pts = index
                    out.mux(stream.encode(frame))
                out.mux(stream.encode(None))
            joined.write(part.read_bytes())
            part.unlink()
    with av.open(str(raw)) as source, av.open(str(path), "w") as out:
        stream = out.add_stream_from_template(source.streams.video[0])
        for index, packet in enumerate(p for p in source.demux(video=0) if p.size):
            packet.stream, packet.pts, packet.dts = stream, index, index
            packet.time_base = Fraction(1, RATE)
            out.mux(packet)
    raw.unlink()
    return path


def mux_silence(out: av.container.OutputContainer) -> None:
    """Add an AAC stream to `out` holding one second of mono silence."""
    audio = out.add_stream("aac", rate=SAMPLE_RATE)
    sound = av.AudioFrame.from_ndarray(np.zeros((1, SAMPLE_RATE), np.int16), format="s16",
                                       layout="mono")
    sound.sample_rate, sound.pts = SAMPLE_RATE, 0
    out.mux(audio.encode(sound))
    out.mux(audio.encode(None))


def make_video_without_frames(path: Path) -> Path:
    """A Matroska file with a video stream that holds no packet, next to a second of audio."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                               rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        mux_silence(out)
        out.mux(video.encode(None))
    return path


def make_audio_only(path: Path) -> Path:
    """An .mp4 with one AAC stream and no video stream."""
    with av.open(str(path), "w") as out:
        mux_silence(out)
    return path


def decoded(path: Path) -> tuple[list[np.ndarray], list[int], list[bytes]]:
    """RGB frames (H, W, 3) uint8, their time stamps and the audio packets of a file."""
    with av.open(str(path)) as container:
        frames = [(f.to_ndarray(format="rgb24"), f.pts) for f in container.decode(video=0)]
    with av.open(str(path)) as container:
        audio = [bytes(p) for p in container.demux(audio=0) if p.size]
    return [f for f, _ in frames], [pts for _, pts in frames], audio


def pipeline_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("fastnst-")]


def test_pipelined_output_equals_sequential_frame_for_frame(tmp_path, model):
    stylizer = Stylizer.from_checkpoint(model, device="cpu")
    source = make_clip(tmp_path / "clip.mp4", "aac")  # audio is copied by the decoder's thread
    outputs = {}
    for pipelined in (True, False):
        target = tmp_path / f"pipelined_{pipelined}.mp4"
        report = stylize_video(stylizer, source, target, batch_size=3, progress=False,
                               pipelined=pipelined)
        assert (report.frames, report.audio) == (FRAMES, "copied")
        outputs[pipelined] = decoded(target)
    (frames, stamps, audio), (frames_seq, stamps_seq, audio_seq) = outputs[True], outputs[False]
    assert len(frames) == len(frames_seq) == FRAMES
    for index, (frame, frame_seq) in enumerate(zip(frames, frames_seq, strict=True)):
        assert np.array_equal(frame, frame_seq), f"frame {index} differs"
    assert stamps == stamps_seq == sorted(set(stamps))  # same, increasing
    assert audio == audio_seq and len(audio) > 0
    # random inputs: the frames differ from each other, so an order swap would show
    assert not np.array_equal(frames[0], frames[1])
    assert pipeline_threads() == []


def test_size_change_mid_stream_fails_in_the_decoder_thread_with_one_line(tmp_path, model,
                                                                          capsys):
    clip = make_size_change_clip(tmp_path / "changes.mkv")
    stylizer = Stylizer.from_checkpoint(model, device="cpu")
    message = r"frame size changes mid-stream: frame 4 is 32x24, the stream 64x48"
    for pipelined in (True, False):
        with pytest.raises(FastNSTError, match=message):
            stylize_video(stylizer, clip, tmp_path / "out.mp4", batch_size=2, progress=False,
                          pipelined=pipelined)
    assert stylize_main([str(clip), "--model", str(model), "-o", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastnst-stylize: error:") and "mid-stream" in err and "\n" not in err
    assert eval_main(["video", str(clip), "--model", "starry_night", "--device", "cpu",
                      "-o", str(tmp_path / "flicker.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastnst-eval video: error:") and "mid-stream" in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["changes.mkv"]
    assert pipeline_threads() == []


def test_encoder_thread_failure_is_one_line_and_nothing_is_written(tmp_path, model, capsys,
                                                                   monkeypatch):
    # the disk fills up while the 3rd frame is being encoded
    calls = []
    real_to_pil = video_module.to_pil

    def failing_to_pil(image):
        calls.append(1)
        if len(calls) == 3:
            raise av.FFmpegError(28, "No space left on device")
        return real_to_pil(image)

    monkeypatch.setattr(video_module, "to_pil", failing_to_pil)
    clip = make_clip(tmp_path / "clip.mp4", "aac")
    target = tmp_path / "out.mp4"
    assert stylize_main([str(clip), "--model", str(model), "-o", str(target),
                         "--batch-size", "2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("fastnst-stylize: error:") and "No space left on device" in err
    assert "\n" not in err and len(calls) == 3  # nothing encoded after the failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    assert pipeline_threads() == []


def test_clips_without_two_frames_or_without_video(tmp_path, model, capsys):
    clips = {"audio": make_audio_only(tmp_path / "audio.mp4"),
             "empty": make_video_without_frames(tmp_path / "empty.mkv"),
             "single": make_clip(tmp_path / "single.mp4", None, frames=1)}
    # a one-frame clip stylizes to a one-frame video
    single_out = tmp_path / "single_out.mp4"
    assert stylize_main([clips["single"].as_posix(), "--model", str(model), "-o",
                         str(single_out)]) == 0
    capsys.readouterr()
    assert probe(single_out)["frames"] == 1 and probe(single_out)["size"] == (WIDTH, HEIGHT)
    single_out.unlink()
    for name, message in (("audio", "no video stream"), ("empty", "has no decodable frames")):
        target = tmp_path / f"{name}_out.mp4"
        assert stylize_main([str(clips[name]), "--model", str(model), "-o", str(target)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnst-stylize: error:") and message in err, err
        assert str(clips[name]) in err and "\n" not in err
    # the flicker needs two frames
    for name, message in (("audio", "no video stream"), ("empty", "found 0"),
                          ("single", "found 1")):
        report = tmp_path / f"{name}.json"
        assert eval_main(["video", str(clips[name]), "--model", "starry_night",
                          "--device", "cpu", "-o", str(report)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("fastnst-eval video: error:") and message in err and "\n" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in clips.values())
