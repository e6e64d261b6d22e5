import pytest
import torch
from torch import nn

from fastnst.models.johnson import TransformerNet


@pytest.mark.parametrize("size", [(255, 257), (64, 64), (33, 17), (3, 5), (1, 1)])
def test_output_keeps_any_size_and_range(size):
    net = TransformerNet(width=0.25).eval()
    with torch.no_grad():
        out = net(torch.rand(2, 3, *size))
    assert out.shape == (2, 3, *size)
    assert out.min() >= 0 and out.max() <= 1


def test_architecture_is_johnson_without_transposed_convs():
    net = TransformerNet()
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in net.modules())
    assert [c.kernel_size[0] for c in (convs[0], convs[-1])] == [9, 9]
    assert [c.stride[0] for c in convs[:3]] == [1, 2, 2]
    assert [c.out_channels for c in convs[:3]] == [32, 64, 128]
    assert len(convs) == 3 + 2 * 5 + 3  # encoder, 5 residual blocks, decoder
    assert sum(isinstance(m, nn.InstanceNorm2d) for m in net.modules()) == len(convs) - 1
    assert any(isinstance(m, nn.ReflectionPad2d) for m in net.modules())


def test_width_scales_channels():
    small, full = TransformerNet(width=0.5), TransformerNet()
    first_conv = next(m for m in small.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.out_channels == 16
    small_params = sum(p.numel() for p in small.parameters())
    full_params = sum(p.numel() for p in full.parameters())
    assert small_params < full_params / 3
