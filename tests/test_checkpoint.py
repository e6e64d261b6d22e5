"""The slim checkpoint format (versions 1 and 2), the architecture registry, wrapper prefixes
and bare model names."""

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.assets import SHIPPED_MODELS_DIR
from fastnst.core.errors import FastNSTError
from fastnst.models import registry
from fastnst.models.checkpoint import (
    CHECKPOINTS_ENV,
    FORMAT,
    FORMAT_VERSION,
    clean_state_dict,
    load_model,
    resolve_model,
    resolve_spec,
    save_model,
)
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT


def seeded_input(height: int = 20, width: int = 24) -> torch.Tensor:
    """A (1, 3, height, width) float image in [0, 1], the same on every call."""
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(0))


def test_round_trip_keeps_weights_and_arch(tmp_path):
    torch.manual_seed(0)
    net = TransformerNet(width=0.5)
    path = save_model(net, tmp_path / "m.ckpt", meta={"style": "mosaic"})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT and payload["format_version"] == FORMAT_VERSION == 2
    assert payload["arch"] == {"name": "johnson", "width": 0.5, "num_residual": 5}
    loaded, meta = load_model(path)
    assert meta["style"] == "mosaic"
    x = seeded_input()
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))


def test_version_1_checkpoint_without_an_architecture_name_loads_as_johnson(tmp_path):
    # fastnst 0.1 wrote format_version 1 and an arch dict without "name".
    torch.manual_seed(0)
    net = TransformerNet(width=0.25, num_residual=2).eval()
    payload = {"format": FORMAT, "format_version": 1,
               "arch": {"width": 0.25, "num_residual": 2},
               "state_dict": net.state_dict(),
               "meta": {"fastnst_version": "0.1.0", "style": "old"}}
    torch.save(payload, tmp_path / "v1.ckpt")
    loaded, meta = load_model(tmp_path / "v1.ckpt")
    assert isinstance(loaded, TransformerNet) and meta["style"] == "old"
    assert loaded.arch == {"name": "johnson", "width": 0.25, "num_residual": 2}
    x = seeded_input()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))


def test_shipped_checkpoint_is_the_current_format_and_loads():
    path = SHIPPED_MODELS_DIR / "paintings.ckpt"
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION and payload["arch"]["name"] == "johnson"
    net, meta = load_model(path)
    assert isinstance(net, TransformerNet) and net.arch["name"] == "johnson"
    assert "starry_night" in net.styles and "starry_night" in meta["styles"]
    # float16 weights on disk, float32 after loading, equal up to the float16 rounding
    for key, value in net.state_dict().items():
        assert value.dtype == torch.float32
        assert torch.equal(value, payload["state_dict"][key].float())


def test_unknown_architecture_is_one_line_exit_2_and_no_output(tmp_path, capsys):
    path = save_model(TransformerNet(width=0.25), tmp_path / "future.ckpt")
    payload = torch.load(path, weights_only=True)
    payload["arch"]["name"] = "pix2pix_unet"
    torch.save(payload, path)
    with pytest.raises(FastNSTError, match="unknown architecture 'pix2pix_unet'"):
        load_model(path)
    out = tmp_path / "out.png"
    assert stylize_main([str(CONTENT), "--model", str(path), "-o", str(out), "--max-size", "32",
                         "--device", "cpu"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastnst-stylize: error:")
    assert str(path) in err and "'pix2pix_unet'" in err and "johnson" in err
    assert not out.exists()


def test_architecture_registry_builds_by_name():
    assert "johnson" in registry.architecture_names()
    net = registry.build_net({"name": "johnson", "width": 0.25, "num_residual": 1})
    assert isinstance(net, TransformerNet) and len(net.residuals) == 1
    assert isinstance(registry.build_net({"width": 0.25}), TransformerNet)  # no name: 0.1 file
    with pytest.raises(FastNSTError, match="does not take"):
        registry.build_net({"name": "johnson", "depth": 3})


def test_half_checkpoint_is_half_the_size_and_loads_as_float32(tmp_path):
    net = TransformerNet(width=0.5)
    full = save_model(net, tmp_path / "full.ckpt")
    half = save_model(net, tmp_path / "half.ckpt", half=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    loaded, meta = load_model(half)
    assert meta["weights_dtype"] == "float16"
    for key, value in loaded.state_dict().items():
        assert value.dtype == net.state_dict()[key].dtype
        torch.testing.assert_close(value, net.state_dict()[key], rtol=1e-3, atol=1e-3)


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.module = nn.Conv2d(3, 3, 1)  # keys "<parent>.module.weight": not a DDP wrapper

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.module(x)


class NetWithModuleAttribute(nn.Module):
    """A registered stand-in architecture whose keys contain "module." after the start."""

    def __init__(self, channels: int = 3) -> None:
        super().__init__()
        self.channels = channels
        self.body = Inner()
        self.head = nn.Conv2d(3, channels, 3, padding=1)

    @property
    def arch(self) -> dict[str, str | int]:
        return {"name": "test_module_attribute", "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))


@pytest.fixture
def module_attribute_arch(monkeypatch):
    monkeypatch.setitem(registry._ARCHITECTURES, "test_module_attribute", NetWithModuleAttribute)


@pytest.mark.parametrize("wrap", ["compiled", "ddp", "ddp+compiled"])
def test_wrapper_prefixes_are_stripped_and_outputs_equal(tmp_path, wrap):
    torch.manual_seed(0)
    net = TransformerNet(width=0.25).eval()
    # torch.compile compiles lazily: its state_dict has the "_orig_mod." keys without compiling.
    compiled_state = torch.compile(net).state_dict()
    assert sorted(compiled_state) == sorted(f"_orig_mod.{key}" for key in net.state_dict())
    state = {"compiled": compiled_state,
             "ddp": {f"module.{key}": value for key, value in net.state_dict().items()},
             "ddp+compiled": {f"module.{key}": value for key, value in compiled_state.items()},
             }[wrap]
    payload = {"format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.arch,
               "state_dict": state, "meta": {}}
    torch.save(payload, tmp_path / "wrapped.ckpt")
    loaded, _ = load_model(tmp_path / "wrapped.ckpt")
    x = seeded_input()
    with torch.no_grad():
        assert torch.equal(loaded(x), net(x))
    # Saving the compiled net itself writes clean keys.
    save_model(torch.compile(net), tmp_path / "clean.ckpt")
    keys = torch.load(tmp_path / "clean.ckpt", weights_only=True)["state_dict"]
    assert sorted(keys) == sorted(net.state_dict())


def test_only_leading_prefixes_are_stripped(tmp_path, module_attribute_arch):
    value = torch.zeros(1)
    cleaned = clean_state_dict({"_orig_mod.module.body.module.weight": value,
                                "encoder._orig_mod.x": value,
                                "transformer.module.head.module.bias": value,
                                "other.weight": value}, prefix="transformer.")
    assert sorted(cleaned) == ["head.module.bias"]
    assert sorted(clean_state_dict({"_orig_mod.module.body.module.weight": value,
                                    "encoder._orig_mod.x": value})) == [
        "body.module.weight", "encoder._orig_mod.x"]

    torch.manual_seed(0)
    net = NetWithModuleAttribute().eval()
    assert "body.module.weight" in net.state_dict()
    path = save_model(net, tmp_path / "inner.ckpt")
    assert sorted(torch.load(path, weights_only=True)["state_dict"]) == sorted(net.state_dict())
    wrapped = {f"module._orig_mod.{key}": value for key, value in net.state_dict().items()}
    torch.save({"format": FORMAT, "format_version": FORMAT_VERSION, "arch": net.arch,
                "state_dict": wrapped}, tmp_path / "wrapped.ckpt")
    x = seeded_input(9, 11)
    for model in (path, tmp_path / "wrapped.ckpt"):
        loaded, _ = load_model(model)
        assert isinstance(loaded, NetWithModuleAttribute)
        with torch.no_grad():
            assert torch.equal(loaded(x), net(x))


def test_wrong_architecture_is_reported(tmp_path):
    net = TransformerNet(width=0.5)
    path = save_model(net, tmp_path / "m.ckpt")
    payload = torch.load(path, weights_only=True)
    payload["arch"]["width"] = 1.0
    torch.save(payload, path)
    with pytest.raises(FastNSTError, match="weights do not fit the johnson net"):
        load_model(path)


class Evil:
    def __reduce__(self):
        return (print, ("unpickled arbitrary code",))


def test_arbitrary_pickles_and_junk_are_refused(tmp_path):
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": Evil()}, evil)
    with pytest.raises(FastNSTError, match="not a fastnst or Lightning checkpoint"):
        load_model(evil)
    junk = tmp_path / "junk.ckpt"
    junk.write_bytes(b"\x00garbage")
    with pytest.raises(FastNSTError, match="not a fastnst or Lightning checkpoint"):
        load_model(junk)
    other = tmp_path / "other.ckpt"
    torch.save({"weights": torch.zeros(3)}, other)
    with pytest.raises(FastNSTError, match="not a fastnst or Lightning checkpoint"):
        load_model(other)
    with pytest.raises(FastNSTError, match="no such checkpoint"):
        load_model(tmp_path / "missing.ckpt")



@pytest.mark.parametrize("make, says", [
    (lambda folder: folder, "is a folder, not a model file"),
    (lambda folder: _write(folder / "README.md", b"# fastnst\nnotes\n"), "it is a text file"),
    (lambda folder: _write(folder / "photo.ckpt", CONTENT.read_bytes()), "it is a JPEG image"),
    (lambda folder: _write(folder / "empty.ckpt", b""), "it is an empty file"),
])
def test_a_path_that_is_not_a_model_says_what_it_is(tmp_path, capsys, make, says):
    """--model DIR or --model README.md: one line naming the path, what it is, and what a model
    file is; no torch text (its weights_only advice runs over many lines)."""
    folder = tmp_path / "given"
    folder.mkdir()
    path = make(folder)
    assert stylize_main(["--model", str(path), str(CONTENT), "-o", str(tmp_path / "o.jpg")]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"fastnst-stylize: error: {path}")
    assert says in lines[0]
    assert "a model file is a .ckpt from fastnst-train" in lines[0]
    assert "Weights only" not in lines[0] and "PyTorch 2.6" not in lines[0]
    assert not (tmp_path / "o.jpg").exists()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.fixture
def model_dirs(tmp_path, monkeypatch):
    """$FASTNST_CHECKPOINTS, ./models and ./checkpoints each holding a mosaic.ckpt (meta says
    which)."""
    env_dir, cwd = tmp_path / "env", tmp_path / "cwd"
    env_dir.mkdir()
    save_model(TransformerNet(width=0.25), env_dir / "mosaic.ckpt", meta={"style": "env"})
    for folder in ("models", "checkpoints"):
        (cwd / folder).mkdir(parents=True)
        save_model(TransformerNet(width=0.25), cwd / folder / "mosaic.ckpt",
                   meta={"style": folder})
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(CHECKPOINTS_ENV, raising=False)
    return env_dir


def test_bare_model_names_are_searched_in_order(model_dirs, monkeypatch):
    assert resolve_model("mosaic") == Path("models/mosaic.ckpt")  # where fastnst-train saves
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    assert resolve_model("mosaic") == model_dirs / "mosaic.ckpt"
    assert load_model("mosaic")[1]["style"] == "env"
    monkeypatch.delenv(CHECKPOINTS_ENV)
    Path("models/mosaic.ckpt").unlink()
    assert load_model("mosaic")[1]["style"] == "checkpoints"  # where fastnst 0.2 saved
    # Anything with a separator or a suffix is a path, used as given.
    assert resolve_model("sub/mosaic") == Path("sub/mosaic")
    assert resolve_model("mosaic.ckpt") == Path("mosaic.ckpt")


def test_a_resolved_model_loads_its_file_wherever_the_search_would_lead_later(
        model_dirs, monkeypatch):
    # The web site resolves each offered style once, at start: a model saved later in a
    # folder that comes first in the search must not change what it serves.
    spec = resolve_spec("mosaic")
    assert spec == (Path("models/mosaic.ckpt"), None) and str(spec) == "models/mosaic.ckpt"
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    assert load_model("mosaic")[1]["style"] == "env"
    assert load_model(spec)[1]["style"] == "models"
    assert resolve_spec(spec) is spec


def test_unknown_model_name_lists_folders_and_names(model_dirs, monkeypatch):
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    with pytest.raises(FastNSTError) as caught:
        resolve_model("no_such_style")
    message = str(caught.value)
    assert "no model named 'no_such_style'" in message and "\n" not in message
    assert f"in {model_dirs}, models, checkpoints, {SHIPPED_MODELS_DIR};" in message
    assert "mosaic" in message.split("available: ")[1].split(", ")


def test_stylize_cli_accepts_a_bare_name(model_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    out = tmp_path / "out.png"
    assert stylize_main([str(CONTENT), "--model", "mosaic", "-o", str(out), "--max-size", "32",
                         "--device", "cpu"]) == 0
    assert max(Image.open(out).size) == 32
