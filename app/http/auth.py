"""Routes of the basic-auth app: users, a user's permissions, roles (those of the official
AuthServiceClient, 3.x and 2.x) and access tokens. They exist only with auth on."""
from __future__ import annotations

from ..services.auth import AuthService
from ..services.permissions import allows
from .access import ADMIN_ONLY, ANY_USER, EXPERIMENT, GRANT_TARGET, MANAGE, REGISTERED_MODEL, on, self_or_admin
from .api import BOOL, INT, STR, Route
from .guard import caller

USER = {"username": STR}
GRANT = {"username": STR, "resource_type": STR, "resource_id": STR}
ROLE = {"role_id": INT}
ROLE_PERMISSION = {"role_permission_id": INT}
V3 = ("3.0",)


def routes(service: AuthService) -> list[Route]:
    s = service

    def own(r) -> str:
        """The user a route is about: the one named, or the caller."""
        return r.get("username") or caller().username

    def current_user(r):
        user = caller()
        return {"user": {"id": user.id, "username": user.username, "is_admin": user.is_admin},
                "is_basic_auth": True}

    def user_permission(r):
        permission = s.user_permission(r.get("username"), r.get("resource_type"), r.get("resource_id"))
        return {"allowed": allows(permission, "use"), "permission": permission}  # as officially: can_use

    manage_target = on(GRANT_TARGET, "resource_id", MANAGE)
    users, roles = "/mlflow/users", "/mlflow/roles"
    return [
        # users
        Route("POST", f"{users}/create", {"username": STR, "password": STR},
              lambda r: {"user": s.create_user(r.get("username"), r.get("password"))}, ADMIN_ONLY),
        Route("GET", f"{users}/get", USER, lambda r: {"user": s.get_user(r.get("username"))}, self_or_admin()),
        Route("GET", f"{users}/current", {}, current_user, ANY_USER),
        Route("GET", f"{users}/list", {}, lambda r: {"users": s.list_users()}, ANY_USER),
        Route("PATCH", f"{users}/update-password", {"username": STR, "password": STR, "current_password": STR},
              lambda r: s.set_password(r.get("username"), r.get("password"), r.get("current_password"), caller()),
              self_or_admin()),
        Route("PATCH", f"{users}/update-admin", {"username": STR, "is_admin": BOOL},
              lambda r: s.set_admin(r.get("username"), r.get("is_admin")), ADMIN_ONLY),
        Route("DELETE", f"{users}/delete", USER, lambda r: s.delete_user(r.get("username"), caller()), ADMIN_ONLY),
        # a user's permissions (3.x)
        Route("POST", f"{users}/permissions/grant", {**GRANT, "permission": STR},
              lambda r: s.grant(r.get("username"), r.get("resource_type"), r.get("resource_id"),
                                r.get("permission")), manage_target, versions=V3),
        Route("POST", f"{users}/permissions/revoke", GRANT,
              lambda r: s.revoke(r.get("username"), r.get("resource_type"), r.get("resource_id")),
              manage_target, versions=V3),
        Route("GET", f"{users}/permissions/get", GRANT, user_permission, self_or_admin(), versions=V3),
        Route("GET", f"{users}/permissions/list", USER, lambda r: s.permission_rows(r.get("username")),
              self_or_admin(), versions=V3),
        Route("GET", f"{users}/current/permissions", {}, lambda r: s.permission_rows(caller().username),
              ANY_USER, versions=V3),
        # who holds a grant of their own on a resource (the web UI's permissions panel)
        Route("GET", "/mlflow/permissions/list", {"resource_type": STR, "resource_id": STR},
              lambda r: {"permissions": s.grants_on(r.get("resource_type"), r.get("resource_id"))},
              manage_target, versions=V3),
        # roles (3.x)
        Route("POST", f"{roles}/create", {"workspace": STR, "name": STR, "description": STR},
              lambda r: {"role": s.create_role(r.get("workspace"), r.get("name"), r.get("description"))},
              ADMIN_ONLY, versions=V3),
        Route("GET", f"{roles}/get", ROLE, lambda r: {"role": s.get_role(r.get("role_id"))}, ANY_USER, versions=V3),
        Route("GET", f"{roles}/list", {"workspace": [STR]}, lambda r: {"roles": s.list_roles(r.get("workspace"))},
              ANY_USER, versions=V3),
        Route("PATCH", f"{roles}/update", {**ROLE, "name": STR, "description": STR},
              lambda r: {"role": s.update_role(r.get("role_id"), r.get("name"), r.get("description"))},
              ADMIN_ONLY, versions=V3),
        Route("DELETE", f"{roles}/delete", ROLE, lambda r: s.delete_role(r.get("role_id")), ADMIN_ONLY,
              versions=V3),
        Route("POST", f"{roles}/permissions/add",
              {**ROLE, "resource_type": STR, "resource_pattern": STR, "permission": STR},
              lambda r: {"role_permission": s.add_role_permission(
                  r.get("role_id"), r.get("resource_type"), r.get("resource_pattern"), r.get("permission"))},
              ADMIN_ONLY, versions=V3),
        Route("DELETE", f"{roles}/permissions/remove", ROLE_PERMISSION,
              lambda r: s.remove_role_permission(r.get("role_permission_id")), ADMIN_ONLY, versions=V3),
        Route("GET", f"{roles}/permissions/list", ROLE,
              lambda r: {"role_permissions": s.list_role_permissions(r.get("role_id"))}, ANY_USER, versions=V3),
        Route("PATCH", f"{roles}/permissions/update", {**ROLE_PERMISSION, "permission": STR},
              lambda r: {"role_permission": s.update_role_permission(r.get("role_permission_id"),
                                                                     r.get("permission"))},
              ADMIN_ONLY, versions=V3),
        Route("POST", f"{roles}/assign", {**USER, **ROLE},
              lambda r: {"assignment": s.assign_role(r.get("username"), r.get("role_id"))}, ADMIN_ONLY,
              versions=V3),
        Route("DELETE", f"{roles}/unassign", {**USER, **ROLE},
              lambda r: s.unassign_role(r.get("username"), r.get("role_id")), ADMIN_ONLY, versions=V3),
        Route("GET", f"{users}/roles/list", USER, lambda r: {"roles": s.user_roles(r.get("username"))},
              self_or_admin(), versions=V3),
        Route("GET", f"{roles}/users/list", ROLE, lambda r: {"assignments": s.role_users(r.get("role_id"))},
              ADMIN_ONLY, versions=V3),
        # a user's permissions, as the 2.x client asks for them
        *_legacy_routes(s, "experiments", EXPERIMENT, "experiment_id", "experiment_permission"),
        *_legacy_routes(s, "registered-models", REGISTERED_MODEL, "name", "registered_model_permission"),
        # access tokens: sent as a Bearer token (MLFLOW_TRACKING_TOKEN) or as the Basic password
        Route("POST", f"{users}/tokens/create", {"username": STR, "name": STR, "expires_in_days": INT},
              lambda r: s.create_token(own(r), r.get("name"), r.get("expires_in_days")), self_or_admin()),
        Route("GET", f"{users}/tokens/list", USER, lambda r: {"tokens": s.list_tokens(own(r))}, self_or_admin()),
        Route("DELETE", f"{users}/tokens/delete", {"username": STR, "id": INT},
              lambda r: s.delete_token(own(r), r.get("id")), self_or_admin()),
    ]


def _legacy_routes(s: AuthService, path: str, resource: str, field: str, answer: str) -> list[Route]:
    """The 2.x client's experiments/permissions/* and registered-models/permissions/*: the
    same grants as users/permissions/grant, named by experiment id or model name."""
    base = f"/mlflow/{path}/permissions"
    key, manage = {field: STR, "username": STR}, on(resource, field, MANAGE)

    def resource_type(r) -> str:
        return EXPERIMENT if resource == EXPERIMENT else s.model_type(r.get(field) or "")

    def shown(r, grant: dict) -> dict:
        return {answer: {field: r.get(field), **grant}}

    def get(r):
        return shown(r, s.user_grant(r.get("username"), resource_type(r), r.get(field)))

    def create(r):
        s.grant(r.get("username"), resource_type(r), r.get(field), r.get("permission"))
        return get(r)

    def update(r):
        get(r)  # 404 when there is no grant to update
        s.grant(r.get("username"), resource_type(r), r.get(field), r.get("permission"), replace=True)

    return [
        Route("POST", f"{base}/create", {**key, "permission": STR}, create, manage),
        Route("GET", f"{base}/get", key, get, manage),
        Route("PATCH", f"{base}/update", {**key, "permission": STR}, update, manage),
        Route("DELETE", f"{base}/delete", key,
              lambda r: s.revoke(r.get("username"), resource_type(r), r.get(field)), manage),
    ]
