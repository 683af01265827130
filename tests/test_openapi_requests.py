"""The requests `check` makes from an OpenAPI document: the smallest valid one per operation."""

import json
import urllib.parse
from typing import Any

import pytest

from fastscaffold import openapi

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "paths": {
        "/orders/{order_id}": {
            "parameters": [
                {"name": "order_id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"}},
            ],
            "get": {
                "parameters": [
                    {"name": "limit", "in": "query", "required": True,
                     "schema": {"type": "integer", "minimum": 5, "maximum": 9}},
                    {"name": "offset", "in": "query", "schema": {"type": "integer"}},
                    {"name": "X-Tenant", "in": "header", "required": True,
                     "schema": {"type": "string"}, "example": "acme"},
                ],
                "responses": {"200": {}, "4XX": {}},
            },
            "delete": {"responses": {"204": {}}},
        },
        "/orders": {
            "post": {
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/Order"}}},
                },
                "responses": {"201": {}, "default": {}},
            },
            "put": {"x-fastscaffold-safe": True, "responses": {"200": {}}},
        },
        "/codes": {
            "get": {
                "parameters": [
                    {"name": "code", "in": "query", "required": True,
                     "schema": {"type": "string", "pattern": "^[A-Z]{3}-[0-9]{4}$"}},
                ],
                "responses": {"200": {}},
            },
        },
    },
    "components": {
        "schemas": {
            "Order": {
                "type": "object",
                "required": ["name", "quantity", "kind", "note", "lines"],
                "properties": {
                    "name": {"type": "string", "minLength": 8, "maxLength": 10},
                    "quantity": {"type": "number", "exclusiveMinimum": 0, "maximum": 0.5},
                    "kind": {"enum": ["retail", "wholesale"]},
                    "note": {"anyOf": [{"type": "null"}, {"type": "string", "format": "email"}]},
                    "lines": {"type": "array", "minItems": 1,
                              "items": {"$ref": "#/components/schemas/Line"}},
                    "optional": {"type": "string"},
                },
            },
            "Line": {
                "allOf": [
                    {"type": "object", "required": ["sku"],
                     "properties": {"sku": {"type": "string", "default": "A-1"}}},
                    {"required": ["count"], "properties": {"count": {"type": "integer"}}},
                ],
            },
        },
    },
}  # fmt: skip


def by_name(name: str) -> openapi.Operation:
    [operation] = [op for op in openapi.operations(DOCUMENT) if op.name == name]
    return operation


def test_every_operation_is_found_with_the_path_level_parameters() -> None:
    names = [op.name for op in openapi.operations(DOCUMENT)]
    assert names == [
        "GET /orders/{order_id}", "DELETE /orders/{order_id}", "PUT /orders", "POST /orders",
        "GET /codes",
    ]  # fmt: skip
    assert [p["name"] for p in by_name("DELETE /orders/{order_id}").spec["parameters"]] == [
        "order_id"
    ]


def test_only_required_parameters_are_sent_within_their_bounds() -> None:
    request = openapi.build(DOCUMENT, by_name("GET /orders/{order_id}"), "http://svc:8000/")
    url = urllib.parse.urlsplit(request.url)
    assert url.path == "/orders/0123456789abcdef0123456789abcdef"
    assert urllib.parse.parse_qs(url.query) == {"limit": ["5"]}  # no offset: not required
    assert request.headers == {"X-Tenant": "acme"}  # the parameter's example
    assert (request.method, request.body) == ("GET", None)


def test_a_required_body_is_the_smallest_object_its_schema_accepts() -> None:
    request = openapi.build(DOCUMENT, by_name("POST /orders"), "http://svc")
    assert request.headers == {"Content-Type": "application/json"}
    assert json.loads(request.body or b"") == {
        "name": "checkche",  # minLength 8
        "quantity": 0.5,  # inside exclusiveMinimum 0 and maximum 0.5
        "kind": "retail",
        "note": "check@example.com",  # the non-null branch, by its format
        "lines": [{"sku": "A-1", "count": 1}],  # minItems 1, allOf merged, a default used
    }


def test_a_pattern_no_common_string_fits_leaves_the_operation_out_by_name() -> None:
    with pytest.raises(openapi.CannotBuild, match=r"parameter 'code': a string matching"):
        openapi.build(DOCUMENT, by_name("GET /codes"), "http://svc")


def test_writes_and_documented_statuses() -> None:
    assert by_name("POST /orders").writes and by_name("DELETE /orders/{order_id}").writes
    assert not by_name("PUT /orders").writes  # marked safe
    assert not by_name("GET /codes").writes
    get = by_name("GET /orders/{order_id}")
    assert get.documented(200) and get.documented(404)  # 4XX
    assert not get.documented(500) and not get.documented(201)
    assert by_name("POST /orders").documented(503)  # default
