"""The JSON API machinery: a declarative route table, request parsing against a message
shape, proto3-style JSON responses, and MLflow's error format. Done once here, so that
handlers only map fields to service calls."""
from __future__ import annotations

import dataclasses
import math
import re
from typing import Any, Callable

import orjson
from flask import Flask, Response, g, request

from ..errors import MlflowError, invalid
from ..services.validation import INT64_MAX, INT64_MIN
from ..store.db import read_only
from . import replica
from .access import Access

API_PREFIXES = ("/api", "/ajax-api")


# ---------------------------------------------------------------- message shapes
# A shape is a dict {field: type}; a type is STR, INT, DOUBLE, BOOL, ENUM, VALUE (any JSON, as
# google.protobuf.Value), a nested shape, or a one-element list [type] for a repeated field.
# Unknown fields are ignored, as proto does.
#
# A JSON body is read as proto3 JSON, as the official server parses it (json_format.ParseDict):
# a string is a JSON string (a number is not one), an int64 a JSON number or a number's text
# within 64 bits, a double a number or its text ("NaN", "Infinity"), a bool true or false, an
# enum its value's name or number (passed on as text, "3", for the service to map), a repeated
# field a list without nulls, a message an object; null is an absent field. A query string
# carries text, read by the field's type (a bool is "true" or "false"). A string holds no NUL
# (PostgreSQL cannot store one) and no unpaired surrogate (UTF-8 cannot encode one), whatever
# the backend. Anything else is a 400 INVALID_PARAMETER_VALUE.

STR, INT, DOUBLE, BOOL, ENUM, VALUE = "string", "int64", "double", "bool", "enum", "value"
MAX_VALUE_DEPTH = 100  # proto's JSON parser nests no deeper
TAG = {"key": STR, "value": STR}
_SURROGATE = re.compile("[\ud800-\udfff]")


def _expected(value: Any, name: str, what: str) -> MlflowError:
    return invalid(f"Invalid value {_short(value)} for parameter '{name}': expected {what}")


def _short(value: Any) -> str:
    text = "null" if value is None else repr(value)  # repr escapes NULs and surrogates
    return text if len(text) <= 80 else text[:77] + "..."


def _string(value: Any, name: str) -> str:
    if type(value) is not str:
        raise _expected(value, name, "a string")
    if "\x00" in value or not value.isascii() and _SURROGATE.search(value):
        raise _expected(value, name, "text without NUL characters or unpaired surrogates")
    return value


def _int64(value: Any, name: str) -> int:
    if type(value) is int and INT64_MIN <= value <= INT64_MAX:
        return value
    number = value
    if type(number) is str:  # "12", also "1e3" and "2.0", as proto's parser reads them
        try:
            number = int(number)
        except ValueError:
            try:
                number = float(number)
            except ValueError:
                pass
    # orjson reads an integer below -2**63 as the float it rounds to: a float counts from within
    if type(number) is float and number.is_integer() and abs(number) < 2**63:
        number = int(number)
    if type(number) is not int or not INT64_MIN <= number <= INT64_MAX:
        raise _expected(value, name, "a 64-bit integer")
    return number


def _double(value: Any, name: str) -> float:
    if type(value) is float:
        return value
    if type(value) in (int, str):
        try:
            return float(value)  # text: a number, "NaN", "Infinity", "-Infinity"
        except (ValueError, OverflowError):
            pass
    raise _expected(value, name, "a number")


def _enum(value: Any, name: str) -> str:
    return str(value) if type(value) is int else _string(value, name)


def _bool(value: Any, name: str) -> bool:
    if type(value) is not bool:
        raise _expected(value, name, "true or false")
    return value


def _value(value: Any, name: str, depth: int = 0) -> Any:
    """Any JSON value as google.protobuf.Value holds it: numbers are finite doubles; strings, object
    keys included, are checked as a string field's."""
    kind = type(value)
    if kind is str:
        return _string(value, name)
    if kind is int:
        return float(value)
    if kind is float and not math.isfinite(value):
        raise _expected(value, name, "a finite number")
    if kind in (list, dict) and depth >= MAX_VALUE_DEPTH:
        raise _expected(value, name, f"a value nested at most {MAX_VALUE_DEPTH} levels deep")
    if kind is list:
        return [_value(item, name, depth + 1) for item in value]
    if kind is dict:
        return {_string(key, name): _value(item, name, depth + 1) for key, item in value.items()}
    return value  # a bool or null


def _bool_text(value: str, name: str) -> bool:
    text = value.lower()
    if text not in ("true", "false"):
        raise _expected(value, name, "true or false")
    return text == "true"


_JSON_SCALARS = {STR: _string, INT: _int64, DOUBLE: _double, BOOL: _bool, ENUM: _enum, VALUE: _value}
_QUERY_SCALARS = {**_JSON_SCALARS, BOOL: _bool_text}


def _reader(kind: Any, scalars: dict) -> Callable[[Any, str], Any]:
    """The function that reads a value of `kind` (not None; a list's null is refused by the
    item's reader), given the name of its field for errors."""
    if isinstance(kind, str):
        return scalars[kind]
    if isinstance(kind, list):
        read_item = _reader(kind[0], scalars)

        def read_list(value: Any, name: str) -> list:
            if type(value) is not list:
                raise _expected(value, name, "a list")
            return [read_item(item, name) for item in value]
        return read_list
    readers = {field: _reader(sub, scalars) for field, sub in kind.items()}

    def read_message(value: Any, name: str) -> dict:
        if type(value) is not dict:
            raise _expected(value, name, "an object")
        return {field: read(item, field) for field, item in value.items()
                if item is not None and (read := readers.get(field)) is not None}  # null: absent
    return read_message


def request_fields(route: "Route") -> dict:
    """The request's fields, parsed once per request: the guard reads them before the view."""
    fields = g.get("fields")
    if fields is None:
        fields = g.fields = parse_request(route)
        fields.update({name: _string(value, name) for name, value in (request.view_args or {}).items()})
    return fields


def parse_request(route: "Route") -> dict:
    """The request's fields: the query string's, and for POST/PATCH/DELETE the JSON body's over them."""
    args = request.args
    fields = route.read_query({name: args.getlist(name) if isinstance(kind, list) else args[name]
                               for name, kind in route.shape.items() if name in args}, "")
    if request.method != "GET":
        body = read_body(request.stream, route.max_body)
        if body.strip():
            data = _loads(body)
            if not isinstance(data, dict):
                raise MlflowError("Request body must be a JSON object", "BAD_REQUEST")
            fields.update(route.read_json(data, ""))
    return fields


def read_body(stream, limit: int) -> bytes:
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

@dataclasses.dataclass(frozen=True)
class Route:
    method: str
    path: str  # below /api/2.0 or /api/3.0, e.g. /mlflow/runs/create; {name} is a path parameter
    shape: dict
    handler: Callable[[dict], Any]
    access: Access  # what the route asks of its caller (app/http/access.py)
    versions: tuple[str, ...] = ("2.0",)
    max_body: int = 16 * 1024 * 1024
    read_json: Callable[[Any, str], dict] = dataclasses.field(init=False, repr=False, compare=False)
    read_query: Callable[[Any, str], dict] = dataclasses.field(init=False, repr=False, compare=False)
    # the route only reads (its reads may go to a read replica): a GET, or a POST that searches
    reads: bool = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self):  # the shape's readers, made once
        object.__setattr__(self, "read_json", _reader(self.shape, _JSON_SCALARS))
        object.__setattr__(self, "read_query", _reader(self.shape, _QUERY_SCALARS))
        object.__setattr__(self, "reads", self.method == "GET" or self.path.rsplit("/", 1)[-1] in READING_POSTS)


# POST routes that only read, by the last segment of their path (their requests are big or were
# POSTs in the official API): the searches and get-latest-versions
READING_POSTS = frozenset({"search", "search-datasets", "get-latest-versions"})


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
        if route.reads:
            result = read_only(route.handler, request_fields(route), replica.wrote_at)
        else:
            result = route.handler(request_fields(route))
        return json_response({} if result is None else result)
    return view
