"""GET /openapi.json: the whole API, generated from the models that validate requests."""

from __future__ import annotations

import re

import pytest

from engine import models

API = "/api/v1"
METHODS = {"get", "post", "put", "delete", "patch"}


@pytest.fixture
def doc(client) -> dict:
    response = client.get(f"{API}/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    return response.get_json()


def refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def test_it_is_an_openapi_3_1_document(doc):
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey", "in": "header", "name": "X-API-Key",
    }  # fmt: skip


def test_every_route_is_documented_and_every_documented_path_is_routed(app, doc):
    routed = set()
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith(API):
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            routed |= {(path, m.lower()) for m in rule.methods if m.lower() in METHODS}
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    assert routed == documented
    assert ("/api/v1/orders", "post") in documented
    assert ("/api/v1/orders/{order_id}", "delete") in documented


def test_every_reference_resolves(doc):
    schemas = doc["components"]["schemas"]
    found = list(refs(doc))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in schemas, ref
    assert "$defs" not in str(doc)


def test_operations_have_responses_security_and_unique_ids(doc):
    ids = []
    for path, ops in doc["paths"].items():
        for op in ops.values():
            ids.append(op["operationId"])
            assert op["summary"]
            statuses = set(op["responses"])
            assert "503" in statuses and "422" in statuses
            assert "500" not in statuses
            private = op["security"] == [{"ApiKey": []}]
            assert ("401" in statuses) == private
            for status, response in op["responses"].items():
                if int(status) >= 400:
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/Error"}
            for name in re.findall(r"{([^}]+)}", path):
                assert {"name": name, "in": "path", "required": True,
                        "schema": {"type": "string"}} in op["parameters"]  # fmt: skip
    assert len(ids) == len(set(ids))


def test_private_and_public_endpoints(doc):
    paths = doc["paths"]
    assert paths[f"{API}/orders"]["post"]["security"] == [{"ApiKey": []}]
    assert paths[f"{API}/fills"]["get"]["security"] == [{"ApiKey": []}]
    for path in ("/health", "/symbols", "/book/{symbol}", "/trades/{symbol}", "/openapi.json"):
        assert paths[API + path]["get"]["security"] == []


def test_the_order_body_is_the_validating_model(doc):
    op = doc["paths"][f"{API}/orders"]["post"]
    schema = op["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/OrderRequest"}
    body = doc["components"]["schemas"]["OrderRequest"]
    assert body["additionalProperties"] is False
    assert set(body["required"]) == {"symbol", "side", "quantity"}
    assert body["properties"]["quantity"]["type"] == "string"
    assert body["properties"]["quantity"]["pattern"] == r"^[0-9]{1,20}(\.[0-9]{1,20})?$"
    assert body["properties"]["side"]["enum"] == ["buy", "sell"]
    assert body == models.OrderRequest.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    assert {"201", "200", "400", "401", "409", "413", "415", "422", "429", "503"} <= set(
        op["responses"]
    )
    assert "Retry-After" in op["responses"]["429"]["headers"]
    placed = op["responses"]["201"]["content"]["application/json"]["schema"]
    assert placed == {"$ref": "#/components/schemas/PlacedOrder"}
    assert "fills" in doc["components"]["schemas"]["PlacedOrder"]["properties"]
    assert "fills" not in doc["components"]["schemas"]["Order"]["properties"]


def test_query_parameters_come_from_the_query_models(doc):
    params = {p["name"]: p for p in doc["paths"][f"{API}/orders"]["get"]["parameters"]}
    assert set(params) == set(models.OrdersQuery.model_fields)
    assert params["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 1000,
                                         "default": 100}  # fmt: skip
    assert all(p["in"] == "query" and p["required"] is False for p in params.values())
    depth = {p["name"]: p for p in doc["paths"][f"{API}/book/{{symbol}}"]["get"]["parameters"]}
    assert depth["depth"]["schema"]["default"] == 50


def test_response_models_describe_the_contracts_objects(doc):
    schemas = doc["components"]["schemas"]
    order = schemas["Order"]["properties"]
    assert list(order) == [
        "id", "client_order_id", "symbol", "side", "type", "time_in_force", "price",
        "quantity", "filled_quantity", "remaining_quantity", "average_price", "status",
        "kill_reason", "post_only", "self_trade_prevention", "expires_at", "sequence",
        "created_at", "updated_at",
    ]  # fmt: skip
    assert set(schemas["Fill"]["properties"]) == {
        "trade_id", "order_id", "symbol", "side", "price", "quantity", "liquidity",
        "sequence", "created_at",
    }  # fmt: skip
    assert set(schemas["Trade"]["properties"]) == {
        "id", "symbol", "price", "quantity", "taker_side", "sequence", "created_at",
    }  # fmt: skip
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message", "field"}
    assert set(schemas["Health"]["properties"]) == {"status", "redis", "workers", "scheduler"}
