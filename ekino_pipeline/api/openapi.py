"""The OpenAPI document (3.1), written from the endpoints' declarations and the current publication.

Parameters come from the same declarations that check requests; a row's schema is the columns the
publication's marts hold (every one required, no other allowed), typed from DuckDB's types: money and
shares are decimal strings, business days dates, instants date-times, lists arrays. A client that knows
only this document can read every published figure and what it covers.
"""

from __future__ import annotations

import re

from ekino_pipeline.api.reader import PUBLIC_MARTS, LoadedPublication
from ekino_pipeline.api.routes import ENDPOINTS, Endpoint

API_KEY_HEADER = "X-API-Key"
DECIMAL_PATTERN = r"^-?[0-9]+(\.[0-9]+)?$"
_INTEGERS = {
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
}


def json_type(duckdb_type: str) -> dict:
    """A nullable JSON schema for a DuckDB column type."""
    if duckdb_type.endswith("[]"):
        return {"type": ["array", "null"], "items": _strict(json_type(duckdb_type[:-2]))}
    base = duckdb_type.upper()
    if base in _INTEGERS:
        return {"type": ["integer", "null"]}
    if base.startswith("DECIMAL"):
        return {"type": ["string", "null"], "pattern": DECIMAL_PATTERN, "format": "decimal"}
    if base in ("DOUBLE", "FLOAT", "REAL"):
        return {"type": ["number", "null"]}
    if base == "BOOLEAN":
        return {"type": ["boolean", "null"]}
    if base == "DATE":
        return {"type": ["string", "null"], "format": "date"}
    if base.startswith("TIMESTAMP"):
        return {"type": ["string", "null"], "format": "date-time"}
    if base == "VARCHAR":
        return {"type": ["string", "null"]}
    return {}


def _strict(schema: dict) -> dict:
    """An array's items are never null."""
    if isinstance(schema.get("type"), list):
        return {**schema, "type": next(t for t in schema["type"] if t != "null")}
    return schema


def row_schema(columns: list[tuple[str, str]]) -> dict:
    return {
        "type": "object",
        "properties": {name: json_type(kind) for name, kind in columns},
        "required": [name for name, _ in columns],
        "additionalProperties": False,
    }


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(name: str) -> dict:
    return {"anyOf": [_ref(name), {"type": "null"}]}


def _mart_schema(pub: LoadedPublication | None, mart: str) -> dict:
    if pub is None or not pub.has(mart):
        return {"type": "object"}
    return row_schema(pub.columns(f'select * from "{mart}"'))


def _endpoint_rows(pub: LoadedPublication | None, endpoint: Endpoint) -> dict:
    if isinstance(endpoint.rows, dict):
        return endpoint.rows
    mart = re.search(r"\bfrom (\w+)", endpoint.rows or "")
    if pub is None or mart is None or not pub.has(mart.group(1)):
        return {"type": "object"}
    columns = pub.columns(endpoint.rows)
    for name, kind in endpoint.added_columns:
        after = next((i for i, (c, _) in enumerate(columns) if c == "distributor"), len(columns) - 1)
        columns.insert(after + 1, (name, kind))
    return row_schema(columns)


COVERAGE = {
    "type": "object",
    "description": "What the answer covers: its days, the cinemas reporting / connected / all (the fewest "
    "reporting and the most connected over its days), provisional and why, and what its figures exclude. "
    "Null where the answer's kind does not say (a list of years has no cinemas).",
    "properties": {
        "first_date": {"type": ["string", "null"], "format": "date"},
        "last_date": {"type": ["string", "null"], "format": "date"},
        "days_in_period": {"type": ["integer", "null"]},
        "days_on_record": {"type": ["integer", "null"]},
        "cinemas_reporting": {"type": ["integer", "null"]},
        "cinemas_connected": {"type": ["integer", "null"]},
        "cinemas_total": {"type": ["integer", "null"]},
        "is_provisional": {"type": ["boolean", "null"]},
        "provisional_reasons": {"type": "array", "items": {"type": "string"}},
        "exclusions": {"type": "array", "items": {"type": "string"}},
    },
    "required": [
        "first_date", "last_date", "days_in_period", "days_on_record", "cinemas_reporting",
        "cinemas_connected", "cinemas_total", "is_provisional", "provisional_reasons", "exclusions",
    ],
    "additionalProperties": False,
}  # fmt: skip
PUBLICATION = {
    "type": "object",
    "description": "The publication answered from: every figure of an answer comes from this one.",
    "properties": {"id": {"type": "string"}, "published_at": {"type": "string", "format": "date-time"}},
    "required": ["id", "published_at"],
    "additionalProperties": False,
}
PAGE = {
    "type": "object",
    "properties": {
        "limit": {"type": "integer"},
        "offset": {"type": "integer"},
        "total": {"type": "integer"},
        "next": {"type": ["string", "null"], "description": "the next page's path and query"},
    },
    "required": ["limit", "offset", "total", "next"],
    "additionalProperties": False,
}
ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "status": {"type": "integer"},
                "code": {"type": "string"},
                "message": {"type": "string"},
                "parameters": {
                    "type": "object",
                    "additionalProperties": {"type": "string"},
                    "description": "each bad parameter and what is wrong with it",
                },
            },
            "required": ["status", "code", "message", "parameters"],
            "additionalProperties": False,
        }
    },
    "required": ["error"],
    "additionalProperties": False,
}
ERRORS = {
    "400": "a parameter is malformed, out of range, repeated or unknown (each is named)",
    "401": "the API key is unknown or revoked (or one is needed)",
    "403": "the key's role cannot read this",
    "404": "no such resource in the publication",
    "429": "the key's rate limit is reached; Retry-After says when to try again",
    "503": "nothing is published yet",
}


def _envelope(rows: dict, listed: bool) -> dict:
    properties = {"publication": _ref("Publication"), "coverage": _ref("Coverage"), "data": rows}
    if listed:
        properties["data"] = {"type": "array", "items": rows}
        properties["page"] = _ref("Page")
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def _responses(ok: dict) -> dict:
    error = {"application/json": {"schema": _ref("Error")}}
    out = {"200": ok, "304": {"description": "not modified since the ETag or Last-Modified given"}}
    out.update({code: {"description": text, "content": error} for code, text in ERRORS.items()})
    return out


def _operation(endpoint: Endpoint, schema_name: str) -> dict:
    content = {"application/json": {"schema": _ref(schema_name)}}
    if endpoint.paged:
        content["text/csv"] = {"schema": {"type": "string"}}
    operation = {
        "operationId": endpoint.name,
        "summary": endpoint.summary,
        "parameters": [p.openapi() for p in endpoint.params],
        "responses": _responses(
            {"description": "the answer, with its publication and coverage", "content": content}
        ),
    }
    operation["security"] = [{"apiKey": []}] if endpoint.restricted else [{}, {"apiKey": []}]
    return operation


def document(pub: LoadedPublication | None) -> dict:
    schemas: dict = {"Publication": PUBLICATION, "Coverage": COVERAGE, "Page": PAGE, "Error": ERROR}
    paths: dict = {}
    for endpoint in ENDPOINTS:
        name = "".join(part.title() for part in endpoint.name.split("_"))
        if endpoint.paged:
            schemas[f"{name}Row"] = _endpoint_rows(pub, endpoint)
            schemas[name] = _envelope(_ref(f"{name}Row"), listed=True)
        paths[endpoint.path] = {"get": _operation(endpoint, name)}
    schemas["FilmDetail"] = {
        "type": "object",
        "properties": {
            "film": _ref("FilmsRow"),
            "latest_day": _nullable("DailyBoxOfficeRow"),
            "funding": {"anyOf": [_mart_schema(pub, "funding_outcomes"), {"type": "null"}]},
            "forecast": {"type": ["array", "null"], "items": _mart_schema(pub, "film_forecasts")},
        },
        "required": ["film", "latest_day", "funding", "forecast"],
        "additionalProperties": False,
    }
    schemas["Film"] = _envelope(_ref("FilmDetail"), listed=False)
    paths.update(_downloads())
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "e-Kino open data API",
            "version": "1",
            "description": "The published box office of Kazakhstan's cinemas, read-only. Every answer "
            "says what it covers (coverage, provisional and why, exclusions) and which publication it "
            "comes from. Business days are Asia/Almaty; money is exact decimal text in tenge. Without a "
            "key, each client address may make 60 requests a minute.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": API_KEY_HEADER}},
        },
    }


def _downloads() -> dict:
    name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "a mart's Parquet file, as listed by /v1/downloads",
        "schema": {"type": "string", "enum": [f"{m}.parquet" for m in PUBLIC_MARTS]},
    }
    media = "application/vnd.apache.parquet"
    parquet = {media: {"schema": {"type": "string", "contentMediaType": media}}}
    return {
        "/v1/downloads/{name}": {
            "get": {
                "operationId": "download",
                "summary": "A public mart of the publication, whole, as Parquet (exact decimals)",
                "parameters": [name],
                "security": [{}, {"apiKey": []}],
                "responses": _responses({"description": "the Parquet file", "content": parquet}),
            }
        },
    }
