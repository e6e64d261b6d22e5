"""Tiled inference (fastnst.inference.tiling): receptive radius, tile grid, whole-image
instance-norm statistics, and the PIL and tensor paths of Stylizer agreeing.

Tolerances, for float RGB in [0, 1], from randomly initialised nets (seed 0):
- tiled vs untiled with whole-image statistics: max abs diff < 1e-4 (measured ~2e-6);
- the two statistics downscalers (PIL bilinear on 8-bit, torch antialiased bilinear on float)
  on a bundled photo: max 2 8-bit levels, mean < 0.5 level (measured 0.9 / 0.27: the 8-bit
  rounding of the PIL result; the 0.1 PIL path's LANCZOS differed by up to 45 levels);
- tiled PIL path vs tiled tensor path with downscaled statistics: max 2 levels, mean < 0.5
  level (measured 1.1 / 0.27; with the 0.1 LANCZOS statistics 21 / 2.9).
"""

from __future__ import annotations

import pytest
import torch
from PIL import Image

from fastnst.core.images import to_pil, to_tensor
from fastnst.inference.stylizer import Stylizer
from fastnst.inference.tiling import (
    downscale_pil,
    downscale_tensor,
    normalizing_with,
    receptive_radius,
    recording_norm_stats,
    run_tiled,
    stats_size,
    tile_grid,
    tile_pixels,
)
from fastnst.models.johnson import TransformerNet
from tests.conftest import ASSETS, CONTENT

pytestmark = pytest.mark.usefixtures("one_thread")
LEVEL = 1 / 255  # one 8-bit level on the [0, 1] scale


def make_net(width: float = 1.0) -> TransformerNet:
    torch.manual_seed(0)
    return TransformerNet(width=width).eval()


def photo(height: int, width: int) -> torch.Tensor:
    """The bundled Chicago photo resized to (1, 3, height, width)."""
    return to_tensor(Image.open(CONTENT).convert("RGB").resize((width, height))).unsqueeze(0)


def test_receptive_radius_bounds_the_reach_of_one_pixel():
    net = make_net(0.25)
    assert receptive_radius(net) == receptive_radius(make_net()) == 57
    x = torch.rand(1, 3, 160, 160)
    with torch.no_grad():
        with recording_norm_stats(net) as stats:
            net(x)
        with normalizing_with(net, stats):  # fixed statistics: the net becomes local
            before = net(x)
            x[..., 80, 80] += 0.5
            changed = (net(x) - before).abs().amax(dim=1)[0] > 0  # (H, W)
    rows, cols = torch.nonzero(changed, as_tuple=True)
    reach = max((rows - 80).abs().max().item(), (cols - 80).abs().max().item())
    assert 40 < reach <= 57


def test_recorded_statistics_reproduce_instance_norm():
    net, x = make_net(0.25), torch.rand(2, 3, 40, 52)
    with torch.no_grad():
        expected = net(x)
        with recording_norm_stats(net) as stats:
            net(x)
        assert len(stats) == 15 and all(m.shape == (2, m.shape[1]) for m, _ in stats.values())
        with normalizing_with(net, stats):
            assert torch.allclose(net(x), expected, atol=1e-5, rtol=0)


def test_tile_grid_covers_the_image_once_with_aligned_margins():
    tiles = tile_grid(200, 300, 64, 60)
    covered = torch.zeros(200, 300, dtype=torch.int32)
    for tile in tiles:
        top, bottom, left, right = tile.core
        covered[top:bottom, left:right] += 1
        assert all(edge % 4 == 0 or edge in (200, 300) for edge in tile.outer)
    assert torch.all(covered == 1)
    assert stats_size(8000, 12000, 4_000_000) == (1632, 2449)
    assert stats_size(200, 300, 4_000_000) == (200, 300)


@pytest.mark.parametrize("tile", [64, 96])
def test_tiled_output_matches_untiled(tile):
    """With a statistics budget the whole image fits in, tiles equal the untiled run."""
    net, x = make_net(), photo(200, 300)
    untiled = Stylizer(net, device="cpu").stylize_tensor(x)
    tiled = Stylizer(net, device="cpu", tile=tile, stats_max_pixels=200 * 300).stylize_tensor(x)
    assert (tiled - untiled).abs().max() < 1e-4


def test_tile_pixels_is_the_core_plus_margins():
    # TransformerNet's receptive radius is 57 px, rounded up to 60; cores to multiples of 4.
    assert tile_pixels(make_net(0.25), 1024) == (1024 + 2 * 60) ** 2
    assert tile_pixels(make_net(0.25), 62) == (64 + 2 * 60) ** 2


@pytest.mark.parametrize("as_pil", [False, True])
def test_by_default_no_forward_of_a_tiled_run_is_larger_than_one_tile(as_pil):
    """--tile bounds memory by default: the statistics pass gets the image scaled to one tile's
    pixels (with margins), so the net never sees more pixels than a tile, whatever the image
    size; the result still differs little from the untiled one."""
    net, x = make_net(0.25), photo(240, 360)  # 86,400 px against (64 + 120)^2 = 33,856
    seen: list[int] = []
    handle = net.register_forward_pre_hook(lambda _m, args: seen.append(args[0].shape[-2:].numel()))
    stylizer = Stylizer(net, device="cpu", tile=64)
    tiled = (to_tensor(stylizer(to_pil(x))).unsqueeze(0) if as_pil
             else stylizer.stylize_tensor(x))
    handle.remove()
    assert len(seen) > 1 and max(seen) <= tile_pixels(net, 64) < 240 * 360
    untiled = Stylizer(net, device="cpu").stylize_tensor(x)
    assert (tiled - untiled).abs().mean() < 0.05


def test_tiled_run_releases_memory_after_the_statistics_pass_and_each_tile():
    # What keeps a huge image's peak at one tile's memory (see _release_free_memory).
    net, x = make_net(0.25), photo(100, 140)
    events: list[str] = []

    def forward(batch: torch.Tensor) -> torch.Tensor:
        events.append("forward")
        return net(batch)

    out = torch.zeros_like(x)

    def write(box: tuple[int, int, int, int], stylized: torch.Tensor) -> None:
        out[..., box[0]:box[1], box[2]:box[3]] = stylized

    with torch.no_grad():
        run_tiled(net, forward, x, (100, 140), 48,
                  lambda box: x[..., box[0]:box[1], box[2]:box[3]], write,
                  lambda: events.append("release"))
    assert events == ["forward", "release"] * (1 + len(tile_grid(100, 140, 48, 60)))
    assert (out - Stylizer(net, device="cpu").stylize_tensor(x)).abs().max() < 1e-4


def test_tiled_pil_path_and_downscaled_statistics_show_no_seams():
    net, x = make_net(0.5), photo(150, 210)
    image = Image.open(CONTENT).convert("RGB").resize((210, 150))
    whole = Stylizer(net, device="cpu")(image)
    tiled = Stylizer(net, device="cpu", tile=64)(image)
    diff = (to_tensor(tiled) - to_tensor(whole)).abs()
    assert diff.max() <= 1 / 255 + 1e-6  # equal up to rounding to 8 bits
    # With statistics from a downscaled copy, tiles still agree with each other: the tiled
    # result is exactly the whole image run with those same statistics.
    small = Stylizer(net, device="cpu", tile=64, stats_max_pixels=64 * 90)
    tiled_small = small.stylize_tensor(x)
    low = torch.nn.functional.interpolate(x, stats_size(150, 210, 64 * 90), mode="bilinear",
                                          antialias=True, align_corners=False)
    with torch.no_grad():
        with recording_norm_stats(net) as stats:
            net(low)
        with normalizing_with(net, stats):
            reference = net(x)
    assert (tiled_small - reference).abs().max() < 1e-4


@pytest.mark.parametrize("source", [CONTENT, ASSETS / "content" / "flowers.jpg"])
@pytest.mark.parametrize("size", [(120, 170), (37, 53)])
def test_pil_and_tensor_downscalers_agree(source, size):
    image = Image.open(source).convert("RGB")  # 512 x 341 px
    assert downscale_pil(image, (image.height, image.width)) is image
    from_pil = to_tensor(downscale_pil(image, size))
    from_tensor = downscale_tensor(to_tensor(image).unsqueeze(0), size)[0]
    assert from_pil.shape == from_tensor.shape == (3, *size)
    diff = (from_pil - from_tensor).abs()
    assert diff.max() <= 2 * LEVEL and diff.mean() < 0.5 * LEVEL, (diff.max(), diff.mean())


def test_tiled_pil_path_equals_tensor_path_with_downscaled_statistics():
    net = make_net(0.5)
    image = Image.open(CONTENT).convert("RGB").resize((210, 150))
    stylizer = Stylizer(net, device="cpu", tile=64, stats_max_pixels=64 * 90)
    assert stats_size(150, 210, 64 * 90) == (64, 89)  # statistics from a downscaled copy
    from_pil = to_tensor(stylizer(image))
    from_tensor = stylizer.stylize_tensor(to_tensor(image).unsqueeze(0))[0]
    diff = (from_pil - from_tensor).abs()
    assert diff.max() <= 2 * LEVEL and diff.mean() < 0.5 * LEVEL, (diff.max(), diff.mean())


def test_tiled_and_untiled_runs_in_concurrent_threads_share_a_net_safely():
    """A server runs requests on one shared net in several threads: a tiled run's
    instance-norm hooks must act for that run only, never for a neighbour's forward."""
    import threading

    net = make_net(0.25)
    tiled = Stylizer(net, "cpu", tile=32)
    untiled = Stylizer(net, "cpu")
    big, small = photo(96, 128), photo(40, 48) * 0.5  # different statistics
    expected = {"tiled": tiled.stylize_tensor(big), "untiled": untiled.stylize_tensor(small)}
    worst = {"tiled": 0.0, "untiled": 0.0}
    start = threading.Barrier(2)

    def hammer(name: str, stylizer: Stylizer, image: torch.Tensor) -> None:
        start.wait()
        for _ in range(6):
            diff = (stylizer.stylize_tensor(image) - expected[name]).abs().max().item()
            worst[name] = max(worst[name], diff)

    threads = [threading.Thread(target=hammer, args=("tiled", tiled, big)),
               threading.Thread(target=hammer, args=("untiled", untiled, small))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert worst["tiled"] < 1e-5 and worst["untiled"] < 1e-5, worst
