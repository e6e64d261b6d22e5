from pathlib import Path

import pytest
import torch
from PIL import Image

from fastnst.cli.stylize import main as stylize_main
from fastnst.core.errors import FastNSTError
from fastnst.models.checkpoint import CHECKPOINTS_ENV, FORMAT, load_model, resolve_model, save_model
from fastnst.models.johnson import TransformerNet
from tests.conftest import CONTENT


def test_round_trip_keeps_weights_and_arch(tmp_path):
    net = TransformerNet(width=0.5)
    path = save_model(net, tmp_path / "m.ckpt", meta={"style": "mosaic"})
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == FORMAT and payload["arch"] == {"width": 0.5, "num_residual": 5}
    loaded, meta = load_model(path)
    assert meta["style"] == "mosaic"
    x = torch.rand(1, 3, 20, 24)
    with torch.no_grad():
        assert torch.equal(loaded(x), net.eval()(x))


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


def test_compiled_or_ddp_prefixes_are_stripped(tmp_path):
    net = TransformerNet(width=0.25)
    wrapped = {f"_orig_mod.{k}": v for k, v in net.state_dict().items()}
    payload = {"format": FORMAT, "format_version": 1, "arch": net.arch, "state_dict": wrapped}
    torch.save(payload, tmp_path / "p.ckpt")
    save_model(net, tmp_path / "clean.ckpt")
    assert not any(k.startswith("_orig_mod") for k in
                   torch.load(tmp_path / "clean.ckpt", weights_only=True)["state_dict"])


def test_wrong_architecture_is_reported(tmp_path):
    net = TransformerNet(width=0.5)
    path = save_model(net, tmp_path / "m.ckpt")
    payload = torch.load(path, weights_only=True)
    payload["arch"]["width"] = 1.0
    torch.save(payload, path)
    with pytest.raises(FastNSTError, match="do not fit the transform net"):
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


@pytest.fixture
def model_dirs(tmp_path, monkeypatch):
    """$FASTNST_CHECKPOINTS and ./checkpoints each holding a mosaic.ckpt (meta says which)."""
    env_dir, cwd = tmp_path / "env", tmp_path / "cwd"
    env_dir.mkdir()
    (cwd / "checkpoints").mkdir(parents=True)
    save_model(TransformerNet(width=0.25), env_dir / "mosaic.ckpt", meta={"style": "env"})
    save_model(TransformerNet(width=0.25), cwd / "checkpoints" / "mosaic.ckpt",
               meta={"style": "cwd"})
    monkeypatch.chdir(cwd)
    monkeypatch.delenv(CHECKPOINTS_ENV, raising=False)
    return env_dir


def test_bare_model_names_are_searched_in_order(model_dirs, monkeypatch):
    assert resolve_model("mosaic") == Path("checkpoints/mosaic.ckpt")
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    assert resolve_model("mosaic") == model_dirs / "mosaic.ckpt"
    assert load_model("mosaic")[1]["style"] == "env"
    # Anything with a separator or a suffix is a path, used as given.
    assert resolve_model("sub/mosaic") == Path("sub/mosaic")
    assert resolve_model("mosaic.ckpt") == Path("mosaic.ckpt")


def test_unknown_model_name_lists_folders_and_names(model_dirs, monkeypatch):
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    with pytest.raises(FastNSTError) as caught:
        resolve_model("no_such_style")
    message = str(caught.value)
    assert "no model named 'no_such_style'" in message and "\n" not in message
    assert str(model_dirs) in message and "checkpoints" in message and "mosaic" in message


def test_stylize_cli_accepts_a_bare_name(model_dirs, monkeypatch, tmp_path):
    monkeypatch.setenv(CHECKPOINTS_ENV, str(model_dirs))
    out = tmp_path / "out.png"
    assert stylize_main([str(CONTENT), "--model", "mosaic", "-o", str(out), "--max-size", "32",
                         "--device", "cpu"]) == 0
    assert max(Image.open(out).size) == 32
