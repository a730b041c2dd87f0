"""Strict JSON in, safe JSON out. Pure functions, table-tested in tests/api/test_units.py.

Python's `json` accepts input that our responses and databases cannot hold: `NaN`,
`Infinity` and numbers that overflow to inf (1e400) become floats that `JSONResponse`
refuses to render, lone surrogates (`"\\ud800"`) become strings that cannot be encoded
as UTF-8 (neither for a response nor for SQLite/PostgreSQL), and PostgreSQL refuses
NUL in text. Such a value, once stored, made every later read of the account fail.

- `loads` is the one parser of untrusted JSON (request bodies, Stripe webhooks): it
  refuses all of the above, and nesting deeper than any request needs.
- `text_problem` is the same string rule for strings that arrive outside JSON (query
  strings, path parameters).
- `load_stored` reads JSON we stored earlier and never raises: a value stored before these
  checks existed comes back scrubbed (`scrub`), so it cannot lock anyone out.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Final

MAX_DEPTH: Final = 32  # our request schemas nest 3 deep; Stripe events about 8
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonInputError(ValueError):
    """Untrusted JSON we refuse; `str()` is a message safe to show the sender."""


def _refuse_constant(name: str) -> Any:
    raise JsonInputError(f"{name} is not a JSON number; numbers must be finite")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # 1e400 and the like overflow to inf
        raise JsonInputError(f"the number {literal[:40]} is out of range")
    return value


def text_problem(value: str, *, allow_nul: bool = False) -> str | None:
    """Why `value` cannot be accepted as text, or None."""
    try:
        value.encode("utf-8")  # fails exactly on lone surrogates
    except UnicodeEncodeError:
        return "is not valid Unicode (lone surrogate)"
    if not allow_nul and "\x00" in value:
        return "contains a NUL character"
    return None


def replace_surrogates(value: str) -> str:
    """`value` with each lone surrogate replaced by U+FFFD (what a UTF-8 decoder shows)."""
    return _SURROGATE.sub("\ufffd", value)


def check_tree(value: Any, where: str, *, allow_nul: bool, max_depth: int) -> None:
    """Raise JsonInputError for the first bad string or key in parsed JSON. Iterative, so
    the depth limit (not Python's recursion limit) decides what is too deep."""
    stack: list[tuple[Any, str, int]] = [(value, where, 0)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, str):
            problem = text_problem(item, allow_nul=allow_nul)
            if problem:
                raise JsonInputError(f"{path}: {problem}")
        elif isinstance(item, float) and not math.isfinite(item):
            raise JsonInputError(f"{path}: numbers must be finite")
        elif isinstance(item, dict | list):
            if depth >= max_depth:
                raise JsonInputError(f"{path}: nested more than {max_depth} levels deep")
            if isinstance(item, list):
                stack.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))
                continue
            for key, v in item.items():
                problem = text_problem(key, allow_nul=allow_nul)
                if problem:
                    raise JsonInputError(f"{path} key {replace_surrogates(key)[:64]!r}: {problem}")
                stack.append((v, f"{path}.{key}", depth + 1))


def loads(
    raw: bytes | str, *, where: str = "body", allow_nul: bool = False, max_depth: int = MAX_DEPTH
) -> Any:
    """Parse untrusted JSON: UTF-8 only, finite numbers only, valid Unicode strings and
    keys only (no NUL unless `allow_nul`), at most `max_depth` levels. Raises
    JsonInputError with a message naming the first problem."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise JsonInputError("not UTF-8") from None
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
    except JsonInputError:
        raise
    except RecursionError:
        raise JsonInputError(f"nested more than {max_depth} levels deep") from None
    except ValueError as exc:  # JSONDecodeError, or an int of more than 4300 digits
        raise JsonInputError(f"not valid JSON ({str(exc)[:80]})") from None
    check_tree(data, where, allow_nul=allow_nul, max_depth=max_depth)
    return data


def scrub(value: Any) -> Any:
    """`value` with everything a JSON response cannot carry replaced: non-finite floats by
    None, lone surrogates by U+FFFD (in keys too). Leaves valid data as it is."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        return replace_surrogates(value)
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    return value


def load_stored(text: Any, default: Any) -> Any:
    """Stored JSON text (or an already-decoded value) made safe to answer with. Never
    raises: unreadable text gives `default`. Tolerant where `loads` is strict, because
    refusing here would lock the owner out of the very requests that could repair it."""
    if not isinstance(text, str | bytes | bytearray):
        return scrub(text) if text is not None else default
    try:
        return scrub(json.loads(text))  # json.loads reads NaN/Infinity back as floats
    except (ValueError, RecursionError):
        return default
