"""Shared fixtures: tiny offline images made from the bundled assets."""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning. Many tests run torch in two processes at once
# (a site and its worker, a command and the test that drives it) on 2 cores; with libgomp's
# default spin-wait each process's idle threads burn the cores the other needs, and a 32 px
# training step took 2.5 s instead of 0.05 s. Set before torch is imported; inherited by
# every subprocess a test starts.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Under pytest-xdist (the README's `-n 2`) each worker process is one core's worth: torch's
# intra-op threads would only fight the other worker for the cores.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "fastnst" / "assets"
DEBUG_CONFIG = ROOT / "configs" / "debug.yaml"
STYLE = ASSETS / "styles" / "starry_night.jpg"
CONTENT = ASSETS / "content" / "chicago.jpg"

# What a user's earlier commands leave in their shell and working directory must not change
# what the tests see: $FASTNST_CHECKPOINTS, ./models and ./checkpoints add models to bare-name
# lookup and the web site's styles, FASTNST_WEB_* are settings of fastnst-web. Switches that only
# turn on optional tests (FASTNST_SCREENSHOTS) or name a file (FASTNST_VGG19_WEIGHTS) stay.
USER_ENVIRONMENT = ("FASTNST_CHECKPOINTS", "FASTNST_WEB_")


def _without_user_state(monkeypatch: pytest.MonkeyPatch, workdir: Path) -> None:
    for name in list(os.environ):
        if name.startswith(USER_ENVIRONMENT):
            monkeypatch.delenv(name)
    monkeypatch.chdir(workdir)


@pytest.fixture(scope="session", autouse=True)
def _session_workdir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Module- and session-scoped fixtures run in an empty folder too, never the repository."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        _without_user_state(monkeypatch, tmp_path_factory.mktemp("session_cwd"))
        yield


@pytest.fixture(autouse=True)
def _test_workdir(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts in its own empty folder, so default outputs (models/NAME.ckpt,
    runs/, fastnst-data/, IN.stylized.jpg) land there, not in the repository, and no test sees
    another's (or a user's) ./models."""
    _without_user_state(monkeypatch, tmp_path_factory.mktemp("cwd"))


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A folder of six small photos (two in a subfolder, as in COCO-like layouts)."""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for i, source in enumerate(sorted((ASSETS / "photos").glob("*.jpg"))[:6]):
        target = folder / ("sub" if i >= 4 else "") / source.name
        Image.open(source).resize((96, 80)).save(target)
    return folder


@pytest.fixture
def style_image(tmp_path: Path) -> Path:
    target = tmp_path / "style.jpg"
    shutil.copy(STYLE, target)
    return target


@pytest.fixture
def one_thread() -> Iterator[None]:
    """Run torch on one thread: tiny tensors gain nothing from more, and on a busy machine
    OpenMP hand-offs between threads can stall each call for seconds."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def readonly_dir(tmp_path: Path) -> Path:
    """A folder nobody can create files in (root ignores modes, so use /sys for root)."""
    import os

    if os.geteuid() == 0:
        return Path("/sys")
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o555)
    return folder


class TinyLossNet(nn.Module):
    """A stand-in loss network with VGG's layer names and strides, for tests of the algorithms
    that take one: tens of flops a pixel per layer (VGG19: ~400k a pixel) and no weights file.

    Layer convB_k / reluB_k: the image average-pooled to VGG's scale at block B (1/2^(B-1)),
    through one fixed random 1x1 convolution, 3 -> 8 channels (ReLU for the relu layers).
    network(images (N, 3, H, W) in [0, 1], layers) -> {layer: (N, 8, H / 2^(B-1), ...)}.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.weight = nn.Parameter(torch.randn(8, 3, 1, 1, generator=generator),
                                   requires_grad=False)

    def forward(self, images: torch.Tensor, layers: tuple[str, ...] | list[str]
                ) -> dict[str, torch.Tensor]:
        out = {}
        for layer in layers:
            scale = 2 ** (int(layer[4]) - 1)  # "conv4_2" -> block 4 -> 1/8
            pooled = nn.functional.avg_pool2d(images, scale) if scale > 1 else images
            features = nn.functional.conv2d(pooled, self.weight)
            out[layer] = features.relu() if layer.startswith("relu") else features
        return out


@pytest.fixture
def tiny_loss_net() -> TinyLossNet:
    """A TinyLossNet (see there): VGG's layer names, a few flops."""
    return TinyLossNet()
