"""Contract tests generated from the OpenAPI document the server serves, against the real server.

No schemathesis (it is not among the project's dependencies): the generator below reads the document
alone. For every operation it sends the parameters one at a time with values taken from their
schemas (the example, each enum value, both booleans, an integer's bounds), checks each answer
against the operation's response schema (rows with exactly the published columns), its caching
headers and a conditional request; the CSV variant has the row schema's columns. Then it breaks each
parameter the ways its schema forbids and expects a 400 naming it, in the error schema.
"""

from __future__ import annotations

from urllib.parse import quote

import jsonschema
import pytest
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOC_URI = "urn:ekino-api"


@pytest.fixture(scope="module")
def doc(api):
    response = api.get("/openapi.json")
    assert response.status_code == 200
    return response.json()


def _validator(doc: dict, schema: dict) -> jsonschema.Draft202012Validator:
    registry = Registry().with_resource(
        DOC_URI, Resource.from_contents(doc, default_specification=DRAFT202012)
    )
    return jsonschema.Draft202012Validator(
        _anchored(schema), registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _anchored(schema):
    """$refs of the document made absolute, so that the registry resolves them."""
    if isinstance(schema, dict):
        return {k: (DOC_URI + v if k == "$ref" else _anchored(v)) for k, v in schema.items()}
    if isinstance(schema, list):
        return [_anchored(item) for item in schema]
    return schema


def _resolve(doc: dict, schema: dict) -> dict:
    while "$ref" in schema:
        node = doc
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def operations(doc: dict):
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def valid_values(param: dict) -> list[str]:
    schema = param["schema"]
    if "example" in param:
        return [param["example"]]
    if "enum" in schema:
        return list(schema["enum"])
    if schema["type"] == "boolean":
        return ["true", "false"]
    if schema["type"] == "integer":
        return [str(schema["minimum"]), str(schema["maximum"])]
    assert "pattern" not in schema, f"{param['name']} has a pattern but no example"
    return ["a"]


def invalid_values(param: dict) -> list[str]:
    schema = param["schema"]
    if "enum" in schema:
        return ["not-one-of-them"]
    if schema["type"] == "boolean":
        return ["maybe"]
    if schema["type"] == "integer":
        return ["x", str(schema["minimum"] - 1), str(schema["maximum"] + 1)]
    if schema.get("format") == "date":
        return ["2024-02-30", "yesterday"]
    bad = ["a" * (schema["maxLength"] + 1)]
    if "pattern" in schema:
        bad.append("!!")
    return bad


def _path(path: str, operation: dict, overrides: dict[str, str] | None = None) -> str:
    for param in operation["parameters"]:
        if param["in"] == "path":
            value = (overrides or {}).get(param["name"], valid_values(param)[0])
            path = path.replace("{" + param["name"] + "}", quote(value, safe=""))
    return path


def _key(operation: dict, ministry_key: str) -> str | None:
    return None if {} in operation["security"] else ministry_key


def test_every_endpoint_is_in_the_document(doc):
    from ekino_pipeline.api.routes import ENDPOINTS

    assert {e.path for e in ENDPOINTS} | {"/v1/downloads/{name}"} == set(doc["paths"])


def test_every_generated_request_gets_an_answer_its_schema_holds(api, doc, ministry_key):
    failures, checked = [], 0
    for path, _method, operation in operations(doc):
        key = _key(operation, ministry_key)
        ok = operation["responses"]["200"]["content"]
        requests_ = [({}, _path(path, operation))]
        for param in operation["parameters"]:
            if param["in"] == "query":
                requests_ += [({param["name"]: v}, _path(path, operation)) for v in valid_values(param)]
            elif param["in"] == "path" and "enum" in param["schema"]:
                requests_ += [
                    ({}, _path(path, operation, {param["name"]: v})) for v in param["schema"]["enum"]
                ]
        for query, url in requests_:
            response = api.get(url, key, params=query)
            checked += 1
            where = f"{url} {query}"
            if (
                response.status_code == 404
                and response.json()["error"]["code"] == "not_found"
                and "{name}" in path
            ):
                continue  # a mart not in this publication (the forecasts)
            if response.status_code != 200:
                failures.append(f"{where}: {response.status_code} {response.text[:300]}")
                continue
            for header in ("ETag", "Last-Modified", "Cache-Control"):
                if header not in response.headers:
                    failures.append(f"{where}: no {header}")
            again = api.get(url, key, params=query, headers={"If-None-Match": response.headers["ETag"]})
            if again.status_code != 304:
                failures.append(f"{where}: a conditional request got {again.status_code}")
            if query.get("format") == "csv":
                if not response.headers["content-type"].startswith("text/csv"):
                    failures.append(f"{where}: {response.headers['content-type']}")
            elif "application/json" in ok:
                errors = list(_validator(doc, ok["application/json"]["schema"]).iter_errors(response.json()))
                failures += [f"{where}: {e.json_path}: {e.message[:200]}" for e in errors[:3]]
            if "text/csv" in ok:
                csv_answer = api.get(url, key, params={**query, "format": "csv"})
                row = _resolve(
                    doc, _resolve(doc, ok["application/json"]["schema"])["properties"]["data"]["items"]
                )
                header = csv_answer.text.split("\n", 1)[0]
                if csv_answer.status_code != 200 or not csv_answer.headers["content-type"].startswith(
                    "text/csv"
                ):
                    failures.append(f"{where} csv: {csv_answer.status_code}")
                elif header != ",".join(f'"{c}"' for c in row["properties"]):
                    failures.append(f"{where} csv header: {header[:200]}")
    assert failures == []
    assert checked > 40


def test_every_parameter_broken_as_its_schema_forbids_gets_a_400_naming_it(api, doc, ministry_key):
    failures, error_validator = [], _validator(doc, {"$ref": "#/components/schemas/Error"})
    for path, _method, operation in operations(doc):
        key = _key(operation, ministry_key)
        cases = [("zz_unknown", {"zz_unknown": "1"}, _path(path, operation))]
        for param in operation["parameters"]:
            for bad in invalid_values(param):
                if param["in"] == "query":
                    cases.append((param["name"], {param["name"]: bad}, _path(path, operation)))
                elif "enum" not in param["schema"]:
                    cases.append((param["name"], {}, _path(path, operation, {param["name"]: bad})))
        for name, query, url in cases:
            response = api.get(url, key, params=query)
            where = f"{url} {query}"
            if response.status_code != 400:
                failures.append(f"{where}: {response.status_code}")
                continue
            body = response.json()
            failures += [f"{where}: {e.message[:200]}" for e in error_validator.iter_errors(body)]
            if name not in body["error"]["parameters"]:
                failures.append(f"{where}: the error names {list(body['error']['parameters'])}")
    assert failures == []


def test_a_parameter_given_twice_is_refused_by_name(api):
    response = api.get("/v1/box-office/daily?date=2024-03-01&date=2024-03-02")
    assert response.status_code == 400
    assert response.json()["error"]["parameters"] == {"date": "given more than once"}
