import pytest

from fastnst.core.config import load_config
from fastnst.core.errors import FastNSTError
from fastnst.inference.config import StylizeConfig
from fastnst.training.config import TrainConfig

REQUIRED = {"style": "s.jpg", "data": "photos"}


def test_defaults_then_yaml_then_flags(tmp_path):
    first = tmp_path / "a.yaml"
    first.write_text("batch_size: 16\nlr: 0.002\nstyle-layers: [relu1_1, relu2_1]\n")
    second = tmp_path / "b.yaml"
    second.write_text("lr: 0.003\n")
    config = load_config(TrainConfig, [str(first), str(second)], {**REQUIRED, "batch_size": 2})
    assert config.batch_size == 2  # flag beats YAML
    assert config.lr == 0.003  # later file beats earlier
    assert config.style_layers == ("relu1_1", "relu2_1")  # YAML list -> tuple
    assert config.image_size == 256  # default kept


def test_comma_separated_layers_and_weights():
    config = load_config(TrainConfig, (), {**REQUIRED, "content_layers": "relu3_1,relu4_2",
                                            "style_layers": "relu1_1,relu2_1",
                                            "style_layer_weights": "1,0.5"})
    assert config.content_layers == ("relu3_1", "relu4_2")
    assert config.style_layer_weights == (1.0, 0.5)


def test_unknown_key_gets_a_hint(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("batch_sise: 4\n")
    hint = "unknown option 'batch_sise'.*did you mean 'batch_size'"
    with pytest.raises(FastNSTError, match=hint):
        load_config(TrainConfig, [str(bad)], REQUIRED)


def test_invalid_values_are_reported():
    with pytest.raises(FastNSTError, match="--style is required"):
        load_config(TrainConfig, (), {"data": "x"})
    with pytest.raises(FastNSTError, match="style-layer-weights has 1 values"):
        load_config(TrainConfig, (), {**REQUIRED, "style_layer_weights": "1"})
    with pytest.raises(FastNSTError, match="precision"):
        load_config(StylizeConfig, (), {"model": "m", "inputs": ("a",), "precision": "8"})


def test_shipped_configs_load():
    from tests.conftest import DEBUG_CONFIG, ROOT

    for path in [DEBUG_CONFIG, *sorted((ROOT / "fastnst" / "configs").rglob("*.yaml"))]:
        load_config(TrainConfig, [str(path)], REQUIRED)
