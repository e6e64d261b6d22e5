import pytest
import torch
from torchvision.models import vgg19

from fastnst.core.errors import FastNSTError
from fastnst.nets.vgg import CAFFE_MEAN_BGR, LAYER_NAMES, TORCH_MEAN, TORCH_STD, VGG19Features


@pytest.fixture(scope="module")
def caffe_vgg():
    return VGG19Features("caffe")


@pytest.fixture(scope="module")
def torchvision_state(tmp_path_factory):
    """A torchvision-layout VGG19 state dict (random weights: no download)."""
    torch.manual_seed(0)
    model = vgg19(weights=None)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(model.state_dict(), path)
    return model, path


def test_caffe_preprocessing_is_bgr_255_minus_mean(caffe_vgg):
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0  # pure red in RGB [0, 1]
    out = caffe_vgg.preprocess(red)
    expected = torch.tensor([0 - CAFFE_MEAN_BGR[0], 0 - CAFFE_MEAN_BGR[1], 255 - CAFFE_MEAN_BGR[2]])
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-3)
    assert red[:, 0].eq(1).all() and red[:, 1:].eq(0).all()  # caller's tensor untouched


def test_torchvision_layout_file_uses_imagenet_normalization(torchvision_state):
    model, path = torchvision_state
    vgg = VGG19Features(str(path))
    assert vgg.convention == "torch"
    x = torch.rand(1, 3, 16, 16)
    mean, std = torch.tensor(TORCH_MEAN).view(1, 3, 1, 1), torch.tensor(TORCH_STD).view(1, 3, 1, 1)
    expected = (x - mean) / std
    assert torch.allclose(vgg.preprocess(x), expected, atol=1e-6)
    # relu3_1 is layer index 11 of torchvision's vgg19.features
    with torch.no_grad():
        reference = model.features[:12](expected)
        ours = vgg(x, ["relu3_1"])["relu3_1"]
    assert torch.allclose(ours, reference, atol=1e-5)


def test_caffe_weights_dequantize_from_codebook(caffe_vgg):
    from fastnst.nets.vgg import caffe_weights_path

    raw = torch.load(caffe_weights_path(), weights_only=True)
    expected = raw["block3_conv2_W_table"][raw["block3_conv2_W_q"].long()]
    assert torch.equal(caffe_vgg.layers["conv3_2"].weight, expected)
    assert torch.equal(caffe_vgg.layers["conv3_2"].bias, raw["block3_conv2_b"])


def test_caffe_features_are_plausible(caffe_vgg):
    # Real ImageNet weights respond more strongly to a structured image than to flat grey.
    from fastnst.core.images import load_tensor
    from tests.conftest import CONTENT

    photo = load_tensor(CONTENT, 10**9, 128)
    grey = torch.full_like(photo, 0.5)
    with torch.no_grad():
        photo_act = caffe_vgg(photo, ["relu4_1"])["relu4_1"].mean()
        grey_act = caffe_vgg(grey, ["relu4_1"])["relu4_1"].mean()
    assert photo_act > 2 * grey_act


def test_returns_named_layers_and_runs_only_what_is_needed(caffe_vgg):
    called = []
    hooks = [caffe_vgg.layers[name].register_forward_hook(
        lambda m, i, o, name=name: called.append(name)) for name in LAYER_NAMES]
    try:
        out = caffe_vgg(torch.rand(1, 3, 32, 32), ["conv2_1", "relu1_1"])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(out) == {"conv2_1", "relu1_1"}
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["conv2_1"].shape == (1, 128, 16, 16)
    assert called[-1] == "conv2_1"  # nothing deeper ran
    assert out["conv2_1"].min() < 0  # conv output, not the in-place ReLU'd tensor


def test_frozen_but_passes_gradients_to_input(caffe_vgg):
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    caffe_vgg(x, ["relu2_1"])["relu2_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in caffe_vgg.parameters())


def test_avg_pooling_changes_deeper_features():
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a = VGG19Features("caffe", "max")(x, ["relu2_1"])["relu2_1"]
        b = VGG19Features("caffe", "avg")(x, ["relu2_1"])["relu2_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


def test_bad_sources_and_layers(caffe_vgg, tmp_path):
    with pytest.raises(FastNSTError, match="no file"):
        VGG19Features(str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(FastNSTError, match="not a loadable state dict"):
        VGG19Features(str(junk))
    with pytest.raises(FastNSTError, match="unknown VGG19 layer"):
        caffe_vgg(torch.rand(1, 3, 8, 8), ["relu9_9"])
