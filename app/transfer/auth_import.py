"""`db import --auth-from`: the users, roles, grants and role assignments of an official
basic-auth database, into ours."""
from __future__ import annotations

import time

import sqlalchemy as sa

from ..store import bulk
from .progress import Tally

_LEGACY_GRANTS = {"experiment_permissions": ("experiment", "experiment_id"),
                  "registered_model_permissions": ("registered_model", "name")}


def import_auth(source, engine: sa.Engine) -> tuple[dict[str, Tally], list[str]]:
    """Users, roles, their permissions and assignments of an official basic-auth database, in one
    transaction (a few thousand rows at most; run again, it finds them there). A user keeps the
    password hash it had (a werkzeug hash, which sign-in checks as well as ours), and its own
    role (__user_<id>__) follows it to the id it gets here. A user whose name is taken here is
    not imported, nor anything of theirs. Databases from before the official roles (MLflow < 3.12)
    keep grants in experiment_permissions and registered_model_permissions: those become grants
    of the user's own role, as the official migration does (NO_PERMISSIONS grants dropped)."""
    from ..services.permissions import RESOURCE_TYPES, WORKSPACE
    from ..store.auth import RESERVED_ROLE_PREFIX, AuthStore, own_role_name
    from ..store.auth_schema import auth_state, role_permissions, roles, user_role_assignments, users
    from ..store.db import Database
    have = source.tables()
    tallies = {name: Tally() for name in ("users", "roles", "permissions", "role assignments")}
    notes: list[str] = []
    rows = {table: [r for batch, _ in source.rows(table) for r in batch]
            for table in ("users", "roles", "role_permissions", "user_role_assignments", *_LEGACY_GRANTS) if table in have}
    store = AuthStore(Database(engine))
    with engine.begin() as conn:
        user_ids, role_ids = {}, {}
        for r in rows.get("users", []):
            tally = tallies["users"]
            tally.read += 1
            existing = conn.execute(sa.select(users.c.id, users.c.password_hash)
                                    .where(users.c.username == r["username"])).first()
            if existing is not None:
                same = existing.password_hash == r["password_hash"]
                tally.present += same
                tally.skipped += not same
                if not same:
                    notes.append(f"user '{r['username']}': the name is taken here by another user; not imported")
                continue
            user_ids[r["id"]] = conn.execute(users.insert().values(
                username=r["username"], password_hash=r["password_hash"], is_admin=bool(r.get("is_admin")),
                creation_time=int(time.time() * 1000))).inserted_primary_key[0]
            tally.written += 1
        own = {own_role_name(old): new for old, new in user_ids.items()}
        for r in rows.get("roles", []):
            tallies["roles"].read += 1
            owner = own.get(r["name"])
            if owner is None and r["name"].startswith(RESERVED_ROLE_PREFIX):
                tallies["roles"].ignored += 1  # the own role of a user not imported
                continue
            if owner is not None:
                role_ids[r["id"]] = store._own_role(conn, owner)
            else:
                there = conn.execute(sa.select(roles.c.id).where(roles.c.workspace == r["workspace"],
                                                                  roles.c.name == r["name"])).scalar()
                if there is not None:
                    tallies["roles"].skipped += 1
                    notes.append(f"role '{r['name']}': the name is taken here; not imported")
                    continue
                role_ids[r["id"]] = conn.execute(roles.insert().values(
                    name=r["name"], workspace=r["workspace"], description=r.get("description"))).inserted_primary_key[0]
            tallies["roles"].written += 1
        grants = [(role_ids.get(r["role_id"]), r["resource_type"], r["resource_pattern"], r["permission"])
                  for r in rows.get("role_permissions", [])]
        for table, (resource_type, column) in _LEGACY_GRANTS.items():
            if "role_permissions" not in have:
                grants += [(store._own_role(conn, user_ids[r["user_id"]]) if r["user_id"] in user_ids else None,
                            resource_type, str(r[column]), r["permission"]) for r in rows.get(table, [])]
        for role_id, resource_type, pattern, permission in grants:
            tally = tallies["permissions"]
            tally.read += 1
            if role_id is None or resource_type not in RESOURCE_TYPES + (WORKSPACE,) or permission == "NO_PERMISSIONS":
                tally.ignored += 1
                continue
            bulk.insert_ignore(conn, role_permissions, ("role_id", "resource_type", "resource_pattern", "permission"),
                               [(role_id, resource_type, pattern, permission)])
            tally.written += 1
        for r in rows.get("user_role_assignments", []):
            tally = tallies["role assignments"]
            tally.read += 1
            user_id, role_id = user_ids.get(r["user_id"]), role_ids.get(r["role_id"])
            if user_id is None or role_id is None:
                tally.ignored += 1
                continue
            bulk.insert_ignore(conn, user_role_assignments, ("user_id", "role_id"), [(user_id, role_id)])
            tally.written += 1
        ignored = sum(t.ignored for t in tallies.values())
        if ignored:
            notes.append(f"basic-auth: {ignored} rows ignored (own roles and grants of users not imported, "
                         f"NO_PERMISSIONS grants, grants on resource types this server does not have)")
        conn.execute(auth_state.update().values(generation=auth_state.c.generation + 1))  # servers re-read
    return tallies, notes
