"""The permission model of MLflow's basic-auth app, as its official server resolves it.

A permission is a level: NO_PERMISSIONS < READ < USE < EDIT < MANAGE, each allowing the actions
of the ones below it (read; use; update; delete and manage), and DENY, which allows nothing and
outweighs any other grant on the same resource. A user's permission on a resource is resolved
from the grants of their roles that name it, by id or by the pattern '*':
- a DENY among them wins; otherwise the highest of them, but never below the server's
  default_permission (NO_PERMISSIONS, which the older API could grant, stays as it is);
- with no grant, the default_permission;
- a grant of MANAGE on ('workspace', '*') makes its holder manage every resource.
"""
from __future__ import annotations

from ..errors import invalid

NO_PERMISSIONS, READ, USE, EDIT, MANAGE, DENY = "NO_PERMISSIONS", "READ", "USE", "EDIT", "MANAGE", "DENY"
LEVELS = {DENY: -1, NO_PERMISSIONS: 0, READ: 1, USE: 2, EDIT: 3, MANAGE: 4}
# the level each action needs (the HTTP layer's access declarations name the actions)
LEVEL_OF = {"read": READ, "use": USE, "update": EDIT, "delete": MANAGE, "manage": MANAGE}

EXPERIMENT, REGISTERED_MODEL, PROMPT, WORKSPACE = "experiment", "registered_model", "prompt", "workspace"
RESOURCE_TYPES = (EXPERIMENT, REGISTERED_MODEL, PROMPT)
MODEL_TYPES = (REGISTERED_MODEL, PROMPT)  # both named by a registered model's name
ADMIN_GRANT = (WORKSPACE, "*", MANAGE)

Grant = tuple[str, str, str]  # (resource_type, resource_pattern, permission)


def allows(permission: str, action: str) -> bool:
    return LEVELS[permission] >= LEVELS[LEVEL_OF[action]]


def resolve(grants: list[Grant], resource_type: str, resource_id: str, default: str) -> str:
    """The permission the grants give on one resource."""
    if ADMIN_GRANT in grants:
        return MANAGE
    best = None
    for kind, pattern, permission in grants:
        if kind != resource_type or pattern not in (resource_id, "*"):
            continue
        if permission == DENY:
            return DENY
        if best is None or LEVELS[permission] > LEVELS[best]:
            best = permission
    if best is None:
        return default
    return best if best == NO_PERMISSIONS or LEVELS[best] >= LEVELS[default] else default


def exceptions(grants: list[Grant], resource_type: str, default: str) -> tuple[bool, set[str]]:
    """How the grants change what can be read among the resources of a type: (readable by
    default, the ids that are the other way round)."""
    if ADMIN_GRANT in grants:
        return True, set()
    readable = allows(resolve(grants, resource_type, "*", default), "read")  # a resource named by no grant
    named = {pattern for kind, pattern, _ in grants if kind == resource_type and pattern != "*"}
    return readable, {i for i in named if allows(resolve(grants, resource_type, i, default), "read") != readable}


def check_permission(permission: str) -> str:
    if permission not in LEVELS:
        raise invalid(f"Invalid permission '{permission}'. Valid permissions are: {', '.join(LEVELS)}")
    return permission


def check_grant(resource_type: str, pattern: str, permission: str) -> None:
    """A grant a role or a user may hold: on an experiment, registered model or prompt, by id
    or '*'; or USE or MANAGE on ('workspace', '*')."""
    check_permission(permission)
    if resource_type == WORKSPACE:
        if pattern != "*" or permission not in (USE, MANAGE):
            raise invalid("A 'workspace' grant is USE or MANAGE on the pattern '*' (this server has one "
                          "workspace, 'default')")
        return
    if resource_type not in RESOURCE_TYPES:
        raise invalid(f"Invalid resource type '{resource_type}'. This server grants permissions on: "
                      f"{', '.join(RESOURCE_TYPES + (WORKSPACE,))}")
    if not pattern:
        raise invalid("Missing value for required parameter 'resource_id'.")
