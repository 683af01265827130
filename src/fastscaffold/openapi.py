"""Calls made from an OpenAPI document: each operation once, with the smallest valid request
its schema allows, judged by what the document itself promises.

Only what an operation requires is sent (path parameters, required query, header and cookie
parameters, a required body); everything else is left to the service's defaults. A value
comes from the schema's `example`, `examples`, `default`, `enum` or `const`, else from its
type and bounds. An operation whose request cannot be made that way (a `pattern` with no
example, say) is left out, and named, rather than guessed at.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fastscaffold import processes

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
WRITES = frozenset({"post", "put", "patch", "delete"})
# An operation marked with this extension writes nothing lasting: it may be called against
# any database. In FastAPI: `@router.post(..., openapi_extra={SAFE: True})`.
SAFE = "x-fastscaffold-safe"


class CannotBuild(Exception):
    """No valid value can be made for some part of the request."""


@dataclass(frozen=True)
class Operation:
    """One method on one path, as the document declares it."""

    method: str
    path: str
    spec: Mapping[str, Any]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def writes(self) -> bool:
        return self.method in WRITES and not self.spec.get(SAFE)

    def documented(self, status: int) -> bool:
        """Whether the document lists `status` (or a range or default covering it)."""
        responses = self.spec.get("responses") or {}
        return any(
            str(key) in (str(status), f"{status // 100}XX", f"{status // 100}xx", "default")
            for key in responses
        )


@dataclass
class Request:
    """A request made for an operation."""

    method: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def operations(document: Mapping[str, Any]) -> list[Operation]:
    """Every operation of the document, in its order."""
    found = []
    for path, item in (document.get("paths") or {}).items():
        shared = item.get("parameters") or []
        for method in METHODS:
            if method in item:
                spec = dict(item[method])
                spec["parameters"] = [*shared, *(spec.get("parameters") or [])]
                found.append(Operation(method, path, spec))
    return found


def build(document: Mapping[str, Any], operation: Operation, base: str) -> Request:
    """The smallest valid request for `operation`; raises CannotBuild."""
    values = Values(document)
    path, query, headers, cookies = operation.path, [], {}, []
    for parameter in operation.spec["parameters"]:
        parameter = values.resolve(parameter)
        where, name = parameter.get("in"), parameter.get("name")
        if where != "path" and not parameter.get("required"):
            continue
        try:
            value = values.make(parameter.get("schema") or {}, parameter)
        except CannotBuild as problem:
            raise CannotBuild(f"parameter {name!r}: {problem}") from None
        if where == "path":
            path = path.replace(f"{{{name}}}", urllib.parse.quote(_text(value), safe=""))
        elif where == "query":
            items = value if isinstance(value, list) else [value]
            query += [(name, _text(item)) for item in items]
        elif where == "header":
            headers[str(name)] = _text(value)
        elif where == "cookie":
            cookies.append(f"{name}={_text(value)}")
    if cookies:
        headers["Cookie"] = "; ".join(cookies)
    body = None
    request_body = values.resolve(operation.spec.get("requestBody") or {})
    if request_body.get("required"):
        content = request_body.get("content") or {}
        kind = next((k for k in content if k.split(";")[0].strip().endswith("json")), None)
        if kind is None:
            raise CannotBuild(f"request body of type {', '.join(content) or 'none'}, not JSON")
        try:
            payload = values.make(content[kind].get("schema") or {}, content[kind])
        except CannotBuild as problem:
            raise CannotBuild(f"request body: {problem}") from None
        body = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    url = base.rstrip("/") + path + (f"?{urllib.parse.urlencode(query)}" if query else "")
    return Request(operation.method.upper(), url, headers, body)


def send(request: Request, timeout: float = 10) -> tuple[int, Any]:
    """Send `request` on a new connection; return the status and the body (JSON decoded
    where it is JSON)."""
    status, raw = processes.request(
        request.method, request.url, request.body, request.headers, timeout
    )
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw[:200].decode(errors="replace")


class Values:
    """Values for schemas of one document: the smallest each schema accepts."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any, depth: int = 0) -> Any:
        """`node` with its `$ref` (a reference into this document) followed."""
        while isinstance(node, Mapping) and "$ref" in node:
            ref = str(node["$ref"])
            if not ref.startswith("#/") or depth > 32:
                raise CannotBuild(f"reference {ref!r} is outside the document")
            target: Any = self.document
            for part in ref[2:].split("/"):
                part = part.replace("~1", "/").replace("~0", "~")
                if not isinstance(target, Mapping) or part not in target:
                    raise CannotBuild(f"reference {ref!r} names nothing")
                target = target[part]
            node, depth = target, depth + 1
        return node

    def make(self, schema: Any, holder: Mapping[str, Any] | None = None, depth: int = 0) -> Any:
        """A value `schema` accepts; `holder` (a parameter or media type) may give examples."""
        if depth > 16:
            raise CannotBuild("schema nests too deep")
        schema = self.resolve(schema) or {}
        for source in (holder or {}, schema):
            if "example" in source:
                return source["example"]
            examples = source.get("examples")
            if isinstance(examples, list) and examples:
                return examples[0]
            if isinstance(examples, Mapping) and examples:
                first = self.resolve(next(iter(examples.values())))
                if isinstance(first, Mapping) and "value" in first:
                    return first["value"]
        for key in ("const", "default"):
            if key in schema:
                return schema[key]
        if schema.get("enum"):
            return schema["enum"][0]
        for key in ("anyOf", "oneOf"):
            if options := schema.get(key):
                usable = [o for o in options if self.resolve(o).get("type") != "null"]
                return self.make((usable or options)[0], None, depth + 1)
        if parts := schema.get("allOf"):
            merged: dict[str, Any] = {}
            for part in parts:
                merged = _merge(merged, self.resolve(part))
            return self.make(merged, None, depth + 1)
        kind = schema.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind is None:
            kind = "object" if "properties" in schema else "string"
        return self._typed(str(kind), schema, depth)

    def _typed(self, kind: str, schema: Mapping[str, Any], depth: int) -> Any:
        if kind == "integer":
            return int(_number(schema, 1, 1))
        if kind == "number":
            return _number(schema, 1.0, 0.5)
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        if kind == "array":
            count = int(schema.get("minItems", 0))
            return [self.make(schema.get("items") or {}, None, depth + 1) for _ in range(count)]
        if kind == "object":
            properties = schema.get("properties") or {}
            return {
                name: self.make(properties.get(name) or {}, None, depth + 1)
                for name in schema.get("required") or []
            }
        if kind == "string":
            return _string(schema)
        raise CannotBuild(f"type {kind!r} is not an OpenAPI type")


def _number(schema: Mapping[str, Any], preferred: float, step: float) -> float:
    """`preferred` moved inside the schema's bounds."""
    low, high = schema.get("minimum"), schema.get("maximum")
    if isinstance(schema.get("exclusiveMinimum"), int | float):
        low = schema["exclusiveMinimum"] + step
    if isinstance(schema.get("exclusiveMaximum"), int | float):
        high = schema["exclusiveMaximum"] - step
    value = preferred if low is None else max(preferred, low)
    if high is not None and value > high:
        value = high if low is None or high >= low else low
    if (multiple := schema.get("multipleOf")) and value % multiple:
        value = (value // multiple + 1) * multiple
    return value


FORMATS = {
    "date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "00:00:00Z",
    "uuid": "00000000-0000-4000-8000-000000000000", "email": "check@example.com",
    "uri": "http://example.com/", "url": "http://example.com/", "hostname": "example.com",
    "ipv4": "192.0.2.1", "ipv6": "2001:db8::1", "duration": "PT1S", "byte": "Y2hlY2s=",
}  # fmt: skip


PATTERN_CANDIDATES = (
    "0123456789abcdef0123456789abcdef", "00000000-0000-4000-8000-000000000000", "check-1",
    "check_1", "Check", "CHECK", "c", "1", "0", "check@example.com", "2024-01-01",
)  # fmt: skip


def _string(schema: Mapping[str, Any]) -> str:
    if (known := FORMATS.get(str(schema.get("format")))) is not None:
        return known
    low, high = int(schema.get("minLength", 0)), schema.get("maxLength")
    length = max(low, 5) if high is None else min(max(low, 5), int(high))
    plain = ("check" * (length // 5 + 1))[:length]
    if "pattern" not in schema:
        return plain
    # A few strings of common shapes; the first the pattern accepts (within the lengths).
    try:
        pattern = re.compile(str(schema["pattern"]))
    except re.error:
        raise CannotBuild(f"pattern {schema['pattern']!r} is not a regular expression") from None
    for candidate in (plain, *PATTERN_CANDIDATES):
        fits = low <= len(candidate) and (high is None or len(candidate) <= int(high))
        if fits and pattern.search(candidate):
            return candidate
    raise CannotBuild(f"a string matching {schema['pattern']!r} needs an example")


def _merge(first: Mapping[str, Any], second: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**first, **second}
    merged["properties"] = {**first.get("properties", {}), **second.get("properties", {})}
    merged["required"] = [*first.get("required", []), *second.get("required", [])]
    return merged


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)
