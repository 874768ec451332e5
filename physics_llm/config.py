"""One config dataclass per entry point, loaded from YAML and `--set key=value`.

Unknown keys are rejected with the list of known ones; values are converted to
the field's type (YAML syntax: `--set scenes=100`, `--set gravity=[0,500]`);
the resolved config is written next to whatever the run produces.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

from physics_llm.errors import ConfigError

T = TypeVar("T")


def _convert(value: Any, tp: Any, key: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{key}: cannot use {value!r}")
    if origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{key} must be a list, got {value!r}")
        inner = args[0] if args else Any
        items = [_convert(v, inner, f"{key}[{i}]") for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if origin is dict or tp is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key} must be a mapping, got {value!r}")
        return dict(value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key} must be a whole number, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{key} must be a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be text, got {value!r}")
        return value
    return value


def from_dict(cls: type[T], data: dict, *, source: str = "config") -> T:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(names))
    if unknown:
        raise ConfigError(f"{source}: unknown key {unknown[0]!r} (known keys: {', '.join(names)})")
    kwargs = {k: _convert(v, hints[k], f"{source}: {k}") for k, v in data.items()}
    try:
        cfg = cls(**kwargs)
    except TypeError as e:
        raise ConfigError(f"{source}: {e}") from None
    check = getattr(cfg, "check", None)
    if check is not None:
        check()
    return cfg


MAX_CONFIG_BYTES = 1 << 20  # a config file is a few dozen lines


def load_yaml(text: str, where: str):
    """yaml.safe_load with every failure as one ConfigError line (syntax, a `!!python` tag, nesting)."""
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as e:
        mark = f" at line {e.problem_mark.line + 1} column {e.problem_mark.column + 1}" if e.problem_mark else ""
        what = " ".join(str(e.problem or e.context or "syntax error").split())
        raise ConfigError(f"{where}: not valid YAML ({what}{mark})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{where}: not valid YAML ({' '.join(str(e).split())[:200]})") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply (a config is a flat mapping of keys to values)") from None


def parse_sets(sets: list[str] | None) -> dict:
    """`key=value` strings -> dict; values are YAML (numbers, lists, true/false)."""
    out: dict[str, Any] = {}
    for s in sets or []:
        if "=" not in s:
            raise ConfigError(f"--set {s!r}: expected key=value")
        k, v = s.split("=", 1)
        try:
            out[k.strip()] = yaml.safe_load(v)
        except yaml.YAMLError:
            out[k.strip()] = v
        except RecursionError:
            raise ConfigError(f"--set {k.strip()}: value nested too deeply") from None
    return out


def load_config(cls: type[T], path: str | Path | None = None, sets: list[str] | None = None,
                extra: dict | None = None) -> T:
    """Defaults <- YAML file <- `extra` (explicit CLI flags) <- --set overrides."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        from physics_llm.io import read_text

        p = Path(path)
        loaded = load_yaml(read_text(p, "config file", MAX_CONFIG_BYTES, ConfigError), str(p)) or {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{p}: expected a mapping of keys to values")
        data.update(loaded)
        source = str(p)
    data.update({k: v for k, v in (extra or {}).items() if v is not None})
    overrides = parse_sets(sets)
    names = {f.name for f in dataclasses.fields(cls)}
    for k in overrides:
        if k not in names:
            raise ConfigError(f"--set {k}: unknown key (known keys: {', '.join(sorted(names))})")
    data.update(overrides)
    return from_dict(cls, data, source=source)


def to_dict(cfg: Any) -> dict:
    d = dataclasses.asdict(cfg)
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}


def save_config(cfg: Any, path: str | Path) -> None:
    from physics_llm.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(to_dict(cfg), sort_keys=False))
