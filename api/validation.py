"""A small JSON Schema subset: the schemas document requests in /api/openapi.json and the
same schemas validate them, so the docs cannot drift from the checks."""

from __future__ import annotations

import re
from typing import Any

from api.errors import ApiError
from api.strict_json import text_problem

Schema = dict[str, Any]

B64_32 = r"^[A-Za-z0-9_-]{43}$"  # 32 bytes as unpadded base64url
B64_16 = r"^[A-Za-z0-9_-]{22}$"
ENVELOPE = r"^pv1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22,}$"  # 96-bit IV, ciphertext + tag
EMAIL_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


OPTIONAL = "x-optional"  # marks a query parameter that may be left out


def optional(schema: Schema) -> Schema:
    """A query parameter that may be absent (`ctx.query` then lacks it)."""
    return {**schema, OPTIONAL: True}


def string(
    max_length: int,
    min_length: int = 0,
    pattern: str | None = None,
    fmt: str | None = None,
    description: str | None = None,
) -> Schema:
    schema: Schema = {"type": "string", "minLength": min_length, "maxLength": max_length}
    if pattern:
        schema["pattern"] = pattern
    if fmt:
        schema["format"] = fmt
    if description:
        schema["description"] = description
    return schema


def integer(minimum: int, maximum: int, description: str | None = None) -> Schema:
    schema: Schema = {"type": "integer", "minimum": minimum, "maximum": maximum}
    if description:
        schema["description"] = description
    return schema


def obj(properties: dict[str, Schema], required: list[str] | None = None) -> Schema:
    return {
        "type": "object",
        "properties": properties,
        "required": required if required is not None else list(properties),
        "additionalProperties": False,
    }


def email() -> Schema:
    return string(254, 3, fmt="email", description="Email address (case-insensitive).")


def key32(description: str) -> Schema:
    return string(43, 43, pattern=B64_32, description=description + " (32 bytes, base64url)")


def envelope(description: str, max_length: int = 200) -> Schema:
    return string(max_length, 40, pattern=ENVELOPE, description=description + " (pv1 envelope)")


_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
}


def _type_ok(name: str, value: Any) -> bool:
    if name in {"integer", "number"} and isinstance(value, bool):
        return False
    return isinstance(value, _TYPES[name])


def validate(schema: Schema, value: Any, where: str = "body") -> None:
    """Raise ApiError 400 `invalid_request` naming the first offending field."""

    def fail(message: str) -> ApiError:
        return ApiError(400, "invalid_request", f"{where}: {message}")

    kind = schema.get("type")
    if kind is not None:
        kinds = kind if isinstance(kind, list) else [kind]
        if not any(_type_ok(k, value) for k in kinds):
            raise fail(f"expected {' or '.join(kinds)}")
    if isinstance(value, str):
        # Bodies were checked by the parser already; query strings arrive here unchecked.
        problem = text_problem(value)
        if problem:
            raise fail(problem)
        if len(value) < schema.get("minLength", 0):
            raise fail(f"at least {schema['minLength']} characters")
        if len(value) > schema.get("maxLength", 10**9):
            raise fail(f"at most {schema['maxLength']} characters")
        if "pattern" in schema and not re.fullmatch(schema["pattern"].strip("^$"), value):
            raise fail("has the wrong format")
        if schema.get("format") == "email" and not EMAIL_RE.fullmatch(value):
            raise fail("is not a valid email address")
    low, high = schema.get("minimum", -(2**63)), schema.get("maximum", 2**63 - 1)
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number and not low <= value <= high:  # floats too: "number" fields document bounds
        raise fail(f"must be between {schema.get('minimum')} and {schema.get('maximum')}")
    if "enum" in schema and value not in schema["enum"]:
        raise fail(f"must be one of {', '.join(map(str, schema['enum']))}")
    if isinstance(value, dict):
        _validate_object(schema, value, where)
    if isinstance(value, list):
        _validate_array(schema, value, where)


def _validate_array(schema: Schema, value: list[Any], where: str) -> None:
    low, high = schema.get("minItems", 0), schema.get("maxItems", 10**9)
    if not low <= len(value) <= high:
        if "minItems" in schema and "maxItems" in schema:
            bounds = f"{low} to {high}"
        else:
            bounds = f"at most {high}" if "maxItems" in schema else f"at least {low}"
        raise ApiError(400, "invalid_request", f"{where}: {bounds} items")
    if "items" in schema:
        for index, item in enumerate(value):
            validate(schema["items"], item, f"{where}[{index}]")


def _validate_object(schema: Schema, value: dict[str, Any], where: str) -> None:
    properties: dict[str, Schema] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            raise ApiError(400, "invalid_request", f"{where}.{name}: is required")
    if len(value) > schema.get("maxProperties", 10**6):
        raise ApiError(400, "invalid_request", f"{where}: too many entries")
    extra = schema.get("additionalProperties", True)
    names = schema.get("propertyNames", {})
    for name, item in value.items():
        if names:
            validate(names, name, f"{where} key")
        if name in properties:
            validate(properties[name], item, f"{where}.{name}")
        elif extra is False:
            raise ApiError(400, "invalid_request", f"{where}.{name}: unknown field")
        elif isinstance(extra, dict):
            validate(extra, item, f"{where}.{name}")
