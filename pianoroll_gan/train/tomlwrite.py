"""A small TOML writer for resolved configs (``tomllib`` only reads).

Handles what configs hold: nested tables of strings, booleans, integers, floats and
(nested) lists of those. ``tomllib.loads(dumps(d)) == d`` for such dicts.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else json.dumps(key)


def _value(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest round-tripping form, always with '.' or 'e'
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v, where) for v in value) + "]"
    if value is None:
        raise ValueError(f"{where}: TOML has no null; give the setting a value")
    raise ValueError(f"{where}: cannot write {type(value).__name__} {value!r} to TOML")


def dumps(data: Mapping[str, Any], _prefix: str = "") -> str:
    """TOML text of a nested dict: scalars first, then one ``[table]`` per sub-dict."""
    lines = []
    tables = []
    for key, value in data.items():
        if isinstance(value, Mapping):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value, _prefix + key)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, table in tables:
        name = f"{_prefix}{_key(key)}"
        body = dumps(table, _prefix=name + ".")
        out += f"\n[{name}]\n{body}"
    return out
