"""The JSON API machinery: a declarative route table, request parsing against a message
shape, proto3-style JSON responses, and MLflow's error format. Done once here, so that
handlers only map fields to service calls."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

import orjson
from flask import Flask, Response, g, request

from ..errors import MlflowError, invalid
from .access import Access

API_PREFIXES = ("/api", "/ajax-api")


# ---------------------------------------------------------------- message shapes
# A shape is a dict {field: type}; a type is STR, INT, DOUBLE, BOOL, a nested shape, or
# a one-element list [type] for a repeated field. Unknown fields are ignored, as proto does.

STR, INT, DOUBLE, BOOL = "string", "int64", "double", "bool"
TAG = {"key": STR, "value": STR}


# Values that already have the wire type need no conversion (the common case, and the
# hot path of log-batch with its 1000 metrics).
_NATIVE = {STR: (str,), INT: (int,), DOUBLE: (float, int)}


def _coerce(value: Any, kind: Any, name: str) -> Any:
    if value is None:
        return None
    if isinstance(kind, str) and type(value) in _NATIVE.get(kind, ()):
        return value
    if isinstance(kind, list):
        if not isinstance(value, list):
            value = [value]
        return [_coerce(item, kind[0], name) for item in value]
    if isinstance(kind, dict):
        if not isinstance(value, dict):
            raise invalid(f"Invalid value for '{name}': expected an object")
        result = {}
        for field, item in value.items():
            sub = kind.get(field)
            if sub is None:
                continue  # unknown field
            native = _NATIVE.get(sub) if isinstance(sub, str) else None
            result[field] = item if native and type(item) in native else _coerce(
                item, sub, f"{name}.{field}" if name else field)
        return result
    if kind == STR:
        if isinstance(value, (dict, list)):
            raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected a string")
        return value if isinstance(value, str) else _scalar_text(value)
    if kind == INT:
        if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
            raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected an integer")
        try:
            return int(value)
        except (TypeError, ValueError, OverflowError):
            raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected an integer") from None
    if kind == DOUBLE:
        if isinstance(value, bool):
            raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected a number")
        if isinstance(value, (int, float)):
            return value
        try:
            return float(value)  # accepts "NaN", "Infinity", "-Infinity" and numeric strings
        except (TypeError, ValueError, OverflowError):
            raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected a number") from None
    if kind == BOOL:
        if isinstance(value, bool):
            return value
        text = str(value).lower()
        if text in ("true", "false"):
            return text == "true"
        raise invalid(f"Invalid value {_short(value)} for parameter '{name}': expected true or false")
    raise AssertionError(kind)


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def request_fields(route: "Route") -> dict:
    """The request's fields, parsed once per request: the guard reads them before the view."""
    fields = g.get("fields")
    if fields is None:
        fields = g.fields = parse_request(route.shape, route.max_body)
        fields.update(request.view_args or {})
    return fields


def parse_request(shape: dict, max_body: int) -> dict:
    """The request's fields: JSON body for POST/PATCH/DELETE, else the query string."""
    fields: dict = {}
    for name, kind in shape.items():
        if name in request.args:
            fields[name] = request.args.getlist(name) if isinstance(kind, list) else request.args[name]
    if request.method != "GET":
        body = _read_body(request.stream, max_body)
        if body.strip():
            data = _loads(body)
            if not isinstance(data, dict):
                raise MlflowError("Request body must be a JSON object", "BAD_REQUEST")
            fields.update(data)
    return _coerce(fields, shape, "")


def _read_body(stream, limit: int) -> bytes:
    """The request body; over `limit` bytes it is read to the end (so that the kept-alive
    connection can carry the next request) and refused."""
    chunks, size = [], 0
    while chunk := stream.read(1024 * 1024):
        size += len(chunk)
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise invalid(f"Request body of {size} bytes exceeds the limit of {limit} bytes")
    return b"".join(chunks)


def _loads(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:  # the stdlib also takes the NaN / Infinity literals some clients write
        import json
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        raise MlflowError(f"Malformed JSON in request body: {error}", "BAD_REQUEST") from None


# ---------------------------------------------------------------- responses

def json_response(payload: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(payload), status=status, mimetype="application/json")


def page(items_name: str, items: list, token: str | None) -> dict:
    """A search answer: the items (left out when empty) and the token of the next page."""
    response = {items_name: items} if items else {}
    if token:
        response["next_page_token"] = token
    return response


def error_response(error: MlflowError) -> Response:
    response = json_response(error.to_json(), error.status)
    response.headers.update(error.headers)
    return response


# ---------------------------------------------------------------- the route table

@dataclass(frozen=True)
class Route:
    method: str
    path: str  # below /api/2.0 or /api/3.0, e.g. /mlflow/runs/create; {name} is a path parameter
    shape: dict
    handler: Callable[[dict], Any]
    access: Access  # what the route asks of its caller (app/http/access.py)
    versions: tuple[str, ...] = ("2.0",)
    max_body: int = 16 * 1024 * 1024


# {name} matches one path segment, {name:path} the rest of the path (slashes included).
_PATH_PARAMETER = re.compile(r"\{(\w+)(?::(path))?\}")


def _flask_rule(path: str) -> str:
    return _PATH_PARAMETER.sub(lambda m: f"<{m[2]}:{m[1]}>" if m[2] else f"<{m[1]}>", path)


def register(app: Flask, routes: list[Route], prefix: str = "") -> None:
    for route in routes:
        view = _view(route)
        for api in API_PREFIXES:
            for version in route.versions:
                rule = f"{prefix}{api}/{version}{_flask_rule(route.path)}"
                add_view(app, rule, f"{route.method} {rule}", view, [route.method], route.access, route)


def add_view(app: Flask, rule: str, endpoint: str, view, methods: list[str], access: Access,
             route: Route | None = None) -> None:
    """Every URL rule of the app is added here, with what it asks of its caller; API routes
    also leave their Route, whose shape the guard parses the request's fields with."""
    app.add_url_rule(rule, endpoint, view, methods=methods)
    app.extensions.setdefault("access", {})[endpoint] = access
    if route is not None:
        app.extensions.setdefault("routes", {})[endpoint] = route


def _view(route: Route):
    def view(**path_args):
        result = route.handler(request_fields(route))
        return json_response({} if result is None else result)
    return view
