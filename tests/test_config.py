import pytest

from fastnst.core.errors import FastNSTError, ParameterError
from fastnst.core.settings import load_config
from fastnst.inference.stylize_config import StylizeConfig
from fastnst.training.train_config import TrainConfig

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

    for path in [DEBUG_CONFIG, *sorted((ROOT / "configs").rglob("*.yaml"))]:
        load_config(TrainConfig, [str(path)], REQUIRED)


def test_default_yaml_equals_the_code_defaults():
    """configs/default.yaml is the full recipe: every TrainConfig field but the run's identity,
    with exactly the values the code resolves to (no key missing, none extra)."""
    import yaml

    from fastnst.core.assets import CONFIGS_DIR
    from fastnst.core.settings import config_to_dict

    recipe = yaml.safe_load((CONFIGS_DIR / "default.yaml").read_text())
    resolved = config_to_dict(load_config(TrainConfig, (), REQUIRED))
    identity = {"style", "data", "val_data", "name", "runs_dir", "output", "half", "resume"}
    expected = {key: value for key, value in resolved.items() if key not in identity}
    assert recipe == expected


def test_zero_and_none_words_mean_none():
    config = load_config(StylizeConfig, (), {"model": "m", "inputs": ("a",), "tile": "0",
                                             "max_size": "none"})
    assert config.tile is None and config.max_size is None
    slow = load_config(TrainConfig, (), {**REQUIRED, "style_size": "0", "max_epochs": "null"})
    assert slow.style_size is None and slow.max_epochs is None
    # zero means "none" only where documented: warm-up 0 stays 0
    assert load_config(TrainConfig, (), {**REQUIRED, "warmup_steps": "0"}).warmup_steps == 0


def test_bad_values_name_the_flag_and_the_source(tmp_path):
    """The library's words name the field; a command's (as_flag) the flag."""
    with pytest.raises(ParameterError, match=r"^bad value 'fast' for lr in command line$"
                       ) as caught:
        load_config(TrainConfig, (), {**REQUIRED, "lr": "fast"})
    assert caught.value.as_flag() == "bad value 'fast' for --lr in command line"
    config_file = tmp_path / "c.yaml"
    config_file.write_text("batch_size: 2.5\n")
    with pytest.raises(ParameterError, match=r"batch_size in .*c.yaml") as caught:
        load_config(TrainConfig, [str(config_file)], REQUIRED)
    assert "--batch-size in " in caught.value.as_flag()


def test_loss_network_defaults_follow_the_network():
    vgg = load_config(TrainConfig, (), REQUIRED)
    assert vgg.content_layers == ("relu2_2",) and vgg.vgg_weights == "caffe"
    squeeze = load_config(TrainConfig, (), {**REQUIRED, "loss_net": "squeezenet"})
    assert squeeze.content_layers == ("fire2",)
    assert squeeze.style_layers == ("relu1", "fire3", "fire4", "fire5")
    assert squeeze.vgg_weights == "torchvision"
    with pytest.raises(ParameterError, match="loss_net must be one of vgg19, vgg16, squeezenet"
                       ) as caught:
        load_config(TrainConfig, (), {**REQUIRED, "loss_net": "resnet"})
    assert caught.value.as_flag().startswith("--loss-net must be one of")  # fastnst-train's words


def test_bundled_config_by_name():
    config = load_config(TrainConfig, ["debug"], REQUIRED)
    assert config.image_size == 64 and config.max_steps == 4


@pytest.mark.parametrize("config_cls", ["slow", "photo"])
@pytest.mark.parametrize("missing", ["content", "style", "output"])
def test_slow_and_photo_configs_name_the_missing_path(config_cls, missing):
    """fastnst-slow and fastnst-photo: the paths are required from any source, and the
    algorithm's values are checked by its own parameters (in flags' words on the command)."""
    from fastnst.photoreal.photo_config import PhotoConfig
    from fastnst.slow.slow_config import SlowConfig

    cls = {"slow": SlowConfig, "photo": PhotoConfig}[config_cls]
    paths = {"content": "photo.jpg", "style": "style.jpg", "output": "out.png"}
    with pytest.raises(FastNSTError, match=f"^--{missing} is required$"):
        load_config(cls, [], {**paths, missing: ""})
    config = load_config(cls, [], paths)
    assert (config.content, config.params.content_weight) == ("photo.jpg", config.content_weight)
    with pytest.raises(ParameterError, match="content_weight must be >= 0"):
        load_config(cls, [], {**paths, "content_weight": -1.0})
