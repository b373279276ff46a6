"""One config dataclass per stage: loaded from YAML, overridden by CLI flags.

A stage config is a dataclass whose fields carry ``help`` text in their metadata::

    @dataclass
    class RetrieverConfig(StageConfig):
        top_k: int = field(default=3, metadata={"help": "Snippets returned per message."})

``RetrieverConfig.from_yaml(path)`` rejects unknown keys by name,
``RetrieverConfig.add_arguments(parser)`` adds ``--top-k`` and
``RetrieverConfig.resolve(yaml_path, args)`` merges defaults < YAML < flags.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from pipeline.errors import ConfigError, first_line

C = TypeVar("C", bound="StageConfig")


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read a YAML mapping; syntax errors name the file and line."""
    path = Path(path)
    if path.is_dir():
        raise ConfigError(f"Config file {str(path)!r} is a folder. Pass a YAML file.")
    if not path.is_file():
        raise ConfigError(f"Config file {str(path)!r} does not exist. Pass an existing YAML file.")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or first_line(exc)
        raise ConfigError(f"YAML syntax error at {where}: {problem}. Fix the file and retry.") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"Config file {str(path)!r} is not UTF-8 text (byte {exc.start}). Pass a YAML file.") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"Config file {str(path)!r} must hold a mapping of keys to values. Got {type(data).__name__}.")
    return data


def _coerce(cls_name: str, name: str, tp: Any, value: Any) -> Any:
    """Check (and gently convert) a value against a field's type annotation."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and args:
        tp, origin = args[0], typing.get_origin(args[0])
    try:
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no"}:
                return value.lower() in {"true", "1", "yes"}
            raise ValueError
        if tp is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if tp is float:
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if tp is str:
            if isinstance(value, (dict, list)):
                raise ValueError
            return str(value)
        if origin is list:
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, (list, tuple)):
                raise ValueError
            return list(value)
        if origin is dict:
            if not isinstance(value, dict):
                raise ValueError
            return dict(value)
    except (TypeError, ValueError):
        shown = getattr(tp, "__name__", str(tp))
        raise ConfigError(f"The {name!r} parameter of {cls_name} must be of type {shown}. Got {value!r}.") from None
    return value


@dataclasses.dataclass
class StageConfig:
    """Base class: YAML loading with unknown-key errors, CLI flags, JSON dump."""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            setattr(self, f.name, _coerce(type(self).__name__, f.name, hints[f.name], getattr(self, f.name)))
        self.validate()

    def validate(self) -> None:
        """Override to check ranges; raise ConfigError via ``check_param``."""

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls: type[C], data: dict[str, Any], source: str = "config") -> C:
        unknown = sorted(set(data) - set(cls.field_names()), key=str)  # YAML keys may be ints too
        if unknown:
            raise ConfigError(
                f"Unknown key(s) {', '.join(map(repr, unknown))} in {source} for {cls.__name__}. "
                f"Valid keys: {', '.join(cls.field_names())}."
            )
        return cls(**data)

    @classmethod
    def from_yaml(cls: type[C], path: str | Path, overrides: dict[str, Any] | None = None) -> C:
        data = read_yaml(path)
        data.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return cls.from_dict(data, source=str(path))

    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
        """Add one ``--flag`` per field (default None so YAML and defaults still apply)."""
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            if f.name in skip:
                continue
            flag = "--" + f.name.replace("_", "-")
            default = f.default if f.default is not dataclasses.MISSING else (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else None)  # type: ignore[misc]
            help_text = f.metadata.get("help", "") + f" (default: {default})"
            tp = hints[f.name]
            if tp is bool or typing.get_args(tp) == (bool, type(None)):
                parser.add_argument(flag, dest=f.name, default=None, action=argparse.BooleanOptionalAction, help=help_text)
            else:
                parser.add_argument(flag, dest=f.name, default=None, metavar=f.name.upper(), help=help_text)

    @classmethod
    def resolve(cls: type[C], yaml_path: str | Path | None, args: argparse.Namespace | dict[str, Any] | None = None) -> C:
        """Defaults < YAML file < command-line flags."""
        data: dict[str, Any] = read_yaml(yaml_path) if yaml_path else {}
        given = vars(args) if isinstance(args, argparse.Namespace) else dict(args or {})
        for name in cls.field_names():
            if given.get(name) is not None:
                data[name] = given[name]
        return cls.from_dict(data, source=str(yaml_path) if yaml_path else "command line")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save(self, path: str | Path) -> None:
        """Write the resolved config as YAML (``.yaml``) or JSON (anything else)."""
        path = Path(path)
        if path.suffix in {".yaml", ".yml"}:
            path.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        else:
            path.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
