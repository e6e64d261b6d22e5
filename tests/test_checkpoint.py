import pytest
import torch

from fastnst.checkpoint import FORMAT, load_model, save_model
from fastnst.errors import FastNSTError
from fastnst.transformer import TransformerNet


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
