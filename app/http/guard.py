"""The auth guard: one check before every request, from what the route declares (access.py).

It finds who the request comes from (a trusted proxy's header, HTTP Basic, or a Bearer access
token), answers 401 when nobody signed in and 403 PERMISSION_DENIED when the route's resources
do not allow the action, and narrows searches to what the caller may read. A URL rule without
a declaration is refused, so a route cannot be forgotten. After a successful request it does
what the route's `then` says (the creator of an experiment or model manages it).
"""
from __future__ import annotations

import ipaddress
import logging

from flask import Flask, Response, g, request

from ..artifacts.paths import safe_relative_path
from ..errors import MlflowError, invalid
from ..services import permissions as p
from ..services.auth import AuthService, Principal, denied, unauthenticated
from . import access as a
from .api import error_response, request_fields
from .locations import searched_experiments

log = logging.getLogger(__name__)


def install(app: Flask, service: AuthService, proxy_header: str = "", trusted_proxies: str = "") -> None:
    declared = app.extensions["access"]
    routes = app.extensions.get("routes", {})
    networks = [ipaddress.ip_network(n.strip(), strict=False) for n in trusted_proxies.split(",") if n.strip()]

    def from_trusted_proxy() -> bool:
        try:
            address = ipaddress.ip_address(request.remote_addr or "")
        except ValueError:
            return False
        return any(address in network for network in networks)

    def authenticate() -> Principal:
        if proxy_header and (name := request.headers.get(proxy_header)):
            if from_trusted_proxy():
                return service.sign_in_proxy(name)
            log.warning("ignored the %s header of a request from %s, which is not a trusted proxy",
                        proxy_header, request.remote_addr)
        credentials = request.authorization
        if credentials is None:
            raise unauthenticated()
        if credentials.type == "basic":
            return service.sign_in(credentials.username or "", credentials.password or "", request.remote_addr or "")
        if credentials.type == "bearer" and credentials.token:
            return service.sign_in_token(credentials.token, request.remote_addr or "")
        raise unauthenticated(f"Unsupported authorization scheme '{credentials.type}': use Basic or Bearer.")

    @app.before_request
    def guard():
        endpoint = request.endpoint
        access = declared.get(endpoint) if endpoint else a.ANY_USER  # no such URL: sign in, then 404
        try:
            if access is None:  # a route added without a declaration: refused, never open
                log.error("refused %s %s: its route %r declares no access", request.method, request.path, endpoint)
                raise denied("This route declares no permission rule; it is refused.")
            if access.who == a.PUBLIC:
                return None
            g.principal = principal = authenticate()
            if principal.is_admin:
                return None
            route = routes.get(endpoint)
            fields = request_fields(route) if route else {**request.args.to_dict(), **(request.view_args or {})}
            authorize(principal, access, fields)
        except MlflowError as error:
            return error_response(error)  # the worker drops or refuses the unread body
        return None

    @app.after_request
    def follow_up(response: Response) -> Response:
        access = declared.get(request.endpoint)
        if access is not None and access.then and response.status_code == 200 and "principal" in g:
            after(g.principal, access.then, response.get_json(silent=True) or {})
        return response

    def authorize(principal: Principal, access: a.Access, fields: dict) -> None:
        if access.who == a.ADMIN:
            raise denied("Only admins may do this.")
        if access.who == a.SELF and fields.get(access.user_field) not in (None, "", principal.username):
            raise denied("Only admins may do this for another user.")
        for need in access.needs:
            check(principal, need, fields)

    def check(principal: Principal, need: a.Need, fields: dict) -> None:
        value = request.headers.get(need.field) if need.resource == a.OTLP_EXPERIMENT else field(fields, need.field)
        if need.resource == a.SEARCH_SCOPE:
            fields[a.SCOPE] = (service.experiment_scope(principal) if need.field == a.EXPERIMENT
                               else service.model_scope(principal))
            return
        for resource_type, resource_id in resources(need, value, fields):
            permission = service.permission(principal, resource_type, resource_id)
            if not p.allows(permission, need.action):
                what = f"{resource_type.replace('_', ' ')} '{resource_id}'" if resource_id else resource_type
                raise denied(f"Permission denied: {need.action} on {what} needs {p.LEVEL_OF[need.action]}; "
                             f"you have {permission}.")

    def resources(need: a.Need, value, fields: dict) -> list[tuple[str, str]]:
        """(resource type, id) of everything the need names; a run, logged model or trace that
        does not exist is judged as an experiment no grant names (the handler then answers 404)."""
        kind = need.resource
        if kind in owners_of:
            ids = named_ids(kind, value if kind != a.RUN else fields.get("run_id") or fields.get("run_uuid"))
            found = owners_of[kind](ids)
            return [(p.EXPERIMENT, str(found.get(i, ""))) for i in ids]
        if kind == a.LOCATIONS:  # as officially: a search of no experiment is for admins only
            ids = searched_experiments(value)
            if not ids:
                raise denied("Name the experiments to search traces in (locations); only admins may search "
                             "without one.")
            return [(p.EXPERIMENT, i) for i in ids]
        if kind == a.OTLP_EXPERIMENT and not value:  # the header says where the spans are stored
            raise MlflowError(f"Missing required header: {need.field}", "BAD_REQUEST")
        if kind == a.ARTIFACT:  # the proxy's root too, which belongs to no experiment
            experiment_id = service.experiment_of_artifact(safe_relative_path(value))
            if experiment_id is None:
                raise denied("This artifact path belongs to no experiment; only admins may reach it.")
            return [(p.EXPERIMENT, str(experiment_id))]
        if not value:
            return []  # the handler reports the missing field
        if kind in (a.EXPERIMENT, a.OTLP_EXPERIMENT):
            return [(p.EXPERIMENT, str(value))]
        if kind == a.EXPERIMENT_NAME:
            experiment_id = service.experiment_named(value)
            return [] if experiment_id is None else [(p.EXPERIMENT, str(experiment_id))]
        if kind == a.REGISTERED_MODEL:
            return [(service.model_type(value), value)]
        if kind == a.MODEL_SOURCE:
            return service.source_resources(value)
        if kind == a.GRANT_TARGET:
            resource_type, resource_id = fields.get("resource_type"), fields.get("resource_id")
            if resource_id == "*":
                raise denied("Only admins may grant on every resource of a type.")
            if resource_type not in p.RESOURCE_TYPES or not resource_id:
                raise invalid(f"Invalid resource_type '{resource_type}' or resource_id: use one of "
                              f"{', '.join(p.RESOURCE_TYPES)} and the resource's id or name")
            return [(resource_type, str(resource_id))]
        raise AssertionError(kind)

    owners_of = {a.RUN: service.run_experiments, a.RUNS: service.run_experiments,
                 a.LOGGED_MODEL: service.model_experiments, a.NAMED_MODELS: service.model_experiments,
                 a.TRACE: service.trace_experiments, a.TRACES: service.trace_experiments}

    def named_ids(kind: str, value) -> list[str]:
        if kind in (a.RUN, a.LOGGED_MODEL, a.TRACE):
            return [value] if value else []
        if isinstance(value, str):  # NAMED_MODELS: log-metric's own model_id
            return [value] if value else []
        items = value or []
        return [i for i in dict.fromkeys(i.get("model_id") if isinstance(i, dict) else i for i in items) if i]

    def after(principal: Principal, follow_up: str, answer: dict) -> None:
        if follow_up == a.CREATED_EXPERIMENT:
            service.creator_manages(principal, p.EXPERIMENT, answer["experiment_id"])
        elif follow_up == a.CREATED_MODEL:
            model = answer["registered_model"]
            prompt = any(t.get("key") == "mlflow.prompt.is_prompt" and str(t.get("value")).lower() == "true"
                         for t in model.get("tags", []))
            service.creator_manages(principal, p.PROMPT if prompt else p.REGISTERED_MODEL, model["name"])
        elif follow_up == a.DELETED_MODEL:
            service.model_deleted(request_fields(routes[request.endpoint])["name"])
        elif follow_up == a.RENAMED_MODEL:
            fields = request_fields(routes[request.endpoint])
            service.model_renamed(fields["name"], answer["registered_model"]["name"])


def field(fields: dict, path: str):
    """A request field, or a nested message's by a dotted path (None where a part is missing)."""
    value = fields
    for name in path.split("."):
        value = value.get(name) if isinstance(value, dict) else None
    return value


def caller() -> Principal:
    """Who the current request comes from (routes that exist only with auth on)."""
    return g.principal
