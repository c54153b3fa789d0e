"""What every configuration dataclass shares: a field is declared once, with its default, its bounds and its doc
(``setting``), and from that one declaration come the strict ``from_dict`` (``config_from_dict``: an unknown
field or a value out of bounds is a ``ConfigError`` naming it), the check of a whole config (``check_config``) and
the command line's flags (``othello.cli.args.config_flags``: type, range, default and help).

Torch-free, so that ``othello-gpt --help`` reads the defaults without loading a model.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Sequence
from typing import Any

from othello.errors import ConfigError

__all__ = [
    "setting",
    "config_from_dict",
    "check_config",
    "field_doc",
    "field_bounds",
    "field_kind",
    "describe_bounds",
    "check_field",
]


def setting(
    default: Any,
    doc: str,
    *,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    choices: Sequence[str] | None = None,
    flag: bool = True,
) -> Any:
    """A config field: its ``default`` and ``doc``, the bounds a value must keep (``low <= value <= high``,
    ``value > above``; floats must be finite) or its ``choices``; ``flag=False`` for a field the command line
    does not offer as a flag of its own. A list or dict default is copied for each instance."""
    meta = {"doc": doc, "low": low, "high": high, "above": above, "choices": choices, "flag": flag}
    if isinstance(default, (list, dict)):
        return dataclasses.field(default_factory=lambda: type(default)(default), metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def field_doc(field: dataclasses.Field) -> str:
    return field.metadata.get("doc", "")


def field_bounds(field: dataclasses.Field) -> dict[str, Any]:
    return {k: field.metadata.get(k) for k in ("low", "high", "above", "choices")}


def field_kind(cls: type, field: dataclasses.Field) -> tuple[type, bool]:
    """The plain type a field holds (``int``, ``float``, ``str``, ``bool``, ``tuple``, ``dict``; a ``Literal`` is a
    ``str``) and whether it may be None."""
    hint = typing.get_type_hints(cls)[field.name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = next(a for a in args if a is not type(None))
    kind = typing.get_origin(hint) or hint
    return (str if kind is typing.Literal else kind), optional


def _check_value(cls: type, field: dataclasses.Field, value: Any, where: str) -> Any:
    """``value`` for ``field``, converted where the field's type says (a list -> a tuple), or ``ConfigError``."""
    kind, optional = field_kind(cls, field)
    if value is None:
        if optional:
            return None
        raise ConfigError(f"{where}: {field.name} cannot be empty")
    if kind is tuple and isinstance(value, list):
        value = tuple(value)
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: {field.name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ConfigError(f"{where}: {field.name} must be a finite number, got {value!r}")
        if kind is int and not float(value).is_integer():
            raise ConfigError(f"{where}: {field.name} must be a whole number, got {value!r}")
        value = kind(value)
    elif not isinstance(value, kind):
        raise ConfigError(f"{where}: {field.name} must be a {kind.__name__}, got {value!r}")
    b = field_bounds(field)
    if b["choices"] is not None and value not in b["choices"]:
        raise ConfigError(f"{where}: {field.name} must be one of {', '.join(b['choices'])}, got {value!r}")
    if kind in (int, float) and (
        (b["low"] is not None and value < b["low"])
        or (b["high"] is not None and value > b["high"])
        or (b["above"] is not None and value <= b["above"])
    ):
        raise ConfigError(f"{where}: {field.name} {value!r} is out of range: {describe_bounds(field)}")
    return value


def check_field(cls: type, field: dataclasses.Field, value: Any) -> Any:
    """One field's value checked (and converted) as ``config_from_dict`` checks it; ``ConfigError`` names it."""
    return _check_value(cls, field, value, cls.__name__)


def describe_bounds(field: dataclasses.Field) -> str:
    """``"at least 1"``, ``"above 0"``, ``"0..1"``: a field's bounds in words."""
    b = field_bounds(field)
    if b["low"] is not None and b["high"] is not None:
        return f"expected {b['low']:g}..{b['high']:g}"
    if b["low"] is not None:
        return f"expected at least {b['low']:g}"
    if b["above"] is not None:
        return f"expected above {b['above']:g}"
    if b["high"] is not None:
        return f"expected at most {b['high']:g}"
    return "any value"


def check_config(config: Any, where: str | None = None) -> Any:
    """Every field of ``config`` within its type and bounds; returns ``config`` (lists given for tuples made
    tuples), or raises ``ConfigError`` naming the field and the value."""
    where = where or type(config).__name__
    for field in dataclasses.fields(config):
        if "doc" in field.metadata:
            object.__setattr__(
                config, field.name, _check_value(type(config), field, getattr(config, field.name), where)
            )
    return config


def config_from_dict(cls: type, data: Any, where: str | None = None) -> Any:
    """The config of class ``cls`` that ``data`` (a JSON object) describes: fields it leaves out take their
    defaults (a field added since a file was written reads as its default); an unknown field, a value of the
    wrong type or out of bounds is a ``ConfigError`` that names it. Checks across fields are the class's own
    ``validate``, which its ``from_dict`` calls after this."""
    where = where or cls.__name__
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected an object of fields, got {type(data).__name__}")
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f"{where}: unknown field{'s' if len(unknown) > 1 else ''} {', '.join(map(str, unknown))}")
    values = {k: _check_value(cls, known[k], v, where) if "doc" in known[k].metadata else v for k, v in data.items()}
    return cls(**values)
