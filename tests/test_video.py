"""Video stylizing with tiny synthetic clips made by PyAV (8 frames, 64 x 48 px, 24 fps)."""

from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.inference.stylizer import Stylizer
from fastnst.inference.video import read_frames, stylize_video
from fastnst.models.checkpoint import save_model
from fastnst.models.johnson import TransformerNet

av = pytest.importorskip("av")
pytestmark = pytest.mark.usefixtures("one_thread")

FRAMES, WIDTH, HEIGHT, RATE, SAMPLE_RATE = 8, 64, 48, 24, 16000


def make_clip(path: Path, audio_codec: str | None) -> Path:
    """Random frames as H.264 plus a 440 Hz tone in `audio_codec` (None: no audio)."""
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "mpeg4",
                               rate=RATE)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        audio = out.add_stream(audio_codec, rate=SAMPLE_RATE) if audio_codec else None
        for index in range(FRAMES):
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
