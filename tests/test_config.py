"""``pipeline.config.StageConfig``: type checks and gentle conversion, unknown keys, defaults < YAML < flags, save."""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field

import pytest
import yaml

from pipeline.config import StageConfig, read_yaml
from pipeline.errors import ConfigError, check_param


@dataclass
class ToyConfig(StageConfig):
    top_k: int = field(default=3, metadata={"help": "Snippets per message."})
    weight: float = 0.5
    name: str = "dense"
    lazy: bool = False
    tags: list[str] = field(default_factory=list)
    extra: dict[str, int] = field(default_factory=dict)
    limit: int | None = None

    def validate(self) -> None:
        check_param("ToyConfig", "top_k", self.top_k, self.top_k >= 1, "an int >= 1")


def test_values_are_converted_where_the_meaning_is_clear():
    cfg = ToyConfig(top_k="5", weight=1, name=7, lazy="Yes", tags="a, b,,c", extra={"x": 1}, limit=2.0)
    assert (cfg.top_k, cfg.weight, cfg.name, cfg.lazy, cfg.tags, cfg.extra, cfg.limit) == (5, 1.0, "7", True, ["a", "b", "c"],
                                                                                           {"x": 1}, 2)
    assert type(cfg.weight) is float and type(cfg.limit) is int
    assert ToyConfig(lazy="0", tags=("x",), limit=None).to_dict() == {
        "top_k": 3, "weight": 0.5, "name": "dense", "lazy": False, "tags": ["x"], "extra": {}, "limit": None}


@pytest.mark.parametrize(("values", "message"), [
    ({"top_k": 2.5}, "The 'top_k' parameter of ToyConfig must be of type int. Got 2.5."),
    ({"top_k": True}, "The 'top_k' parameter of ToyConfig must be of type int. Got True."),
    ({"limit": "many"}, "The 'limit' parameter of ToyConfig must be of type int. Got 'many'."),
    ({"weight": False}, "The 'weight' parameter of ToyConfig must be of type float. Got False."),
    ({"lazy": "maybe"}, "The 'lazy' parameter of ToyConfig must be of type bool. Got 'maybe'."),
    ({"name": ["a"]}, "The 'name' parameter of ToyConfig must be of type str. Got ['a']."),
    ({"tags": 3}, "The 'tags' parameter of ToyConfig must be of type list. Got 3."),
    ({"extra": [1]}, "The 'extra' parameter of ToyConfig must be of type dict. Got [1]."),
    ({"top_k": 0}, "The 'top_k' parameter of ToyConfig must be an int >= 1. Got 0."),
])
def test_wrong_types_and_ranges_are_one_config_error(values, message):
    with pytest.raises(ConfigError) as info:
        ToyConfig(**values)
    assert str(info.value).startswith(message)


def test_defaults_then_yaml_then_flags(tmp_path):
    path = tmp_path / "toy.yaml"
    path.write_text("top_k: 4\nname: bm25\ntags: [a]\n")
    parser = argparse.ArgumentParser()
    ToyConfig.add_arguments(parser, skip=("extra",))
    args = parser.parse_args(["--name", "hybrid", "--lazy"])
    cfg = ToyConfig.resolve(path, args)
    assert (cfg.top_k, cfg.name, cfg.lazy, cfg.tags, cfg.weight) == (4, "hybrid", True, ["a"], 0.5)
    assert "Snippets per message. (default: 3)" in parser.format_help() and "--extra" not in parser.format_help()
    assert ToyConfig.resolve(None, {"top_k": "2"}).top_k == 2
    loaded = ToyConfig.from_yaml(path, overrides={"top_k": 9, "name": None})
    assert (loaded.top_k, loaded.name) == (9, "bm25")
    path.write_text("top_k: 4\ntopk: 5\n")
    with pytest.raises(ConfigError, match=rf"Unknown key\(s\) 'topk' in {path} for ToyConfig\. Valid keys: top_k, weight,"):
        ToyConfig.from_yaml(path)


def test_yaml_that_is_not_a_mapping_or_is_missing(tmp_path):
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list.yaml' must hold a mapping of keys to values\. Got list\."):
        read_yaml(tmp_path / "list.yaml")
    with pytest.raises(ConfigError, match=r"absent.yaml' does not exist\. Pass an existing YAML file\."):
        read_yaml(tmp_path / "absent.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing set\n")
    assert read_yaml(tmp_path / "empty.yaml") == {} and ToyConfig.from_yaml(tmp_path / "empty.yaml") == ToyConfig()


def test_save_writes_the_resolved_config(tmp_path):
    cfg = ToyConfig(top_k=7, tags=["a"], limit=3)
    cfg.save(tmp_path / "config.yaml")
    cfg.save(tmp_path / "config.json")
    assert ToyConfig.from_dict(yaml.safe_load((tmp_path / "config.yaml").read_text())) == cfg
    assert json.loads((tmp_path / "config.json").read_text()) == cfg.to_dict()
