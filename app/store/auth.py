"""The auth store: users, roles, grants and access tokens in the auth database.

Methods take and return plain values and dictionaries shaped like the REST API's JSON; the
rules (who may do what, password hashing, validation) are the service's. Every write raises
auth_state.generation in its own transaction, so that caches elsewhere can tell they are stale,
and then the counter this server's workers share, so that they can tell without a query.
"""
from __future__ import annotations

import multiprocessing
import re

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from ..errors import already_exists, invalid, not_found
from .auth_schema import access_tokens, auth_state, role_permissions, roles, user_role_assignments, users
from .db import Database

DEFAULT_WORKSPACE = "default"  # the one workspace of a server without workspaces
_OWN_ROLE = re.compile(r"__user_\d+__")  # a user's own role, holding what is granted to them directly
RESERVED_ROLE_PREFIX = "__user_"

u, r, rp, ura, t = users.c, roles.c, role_permissions.c, user_role_assignments.c, access_tokens.c
_USER_COLUMNS = (u.id, u.username, u.password_hash, u.is_admin)
_GRANT_COLUMNS = (rp.resource_type, rp.resource_pattern, rp.permission)


def own_role_name(user_id: int) -> str:
    return f"{RESERVED_ROLE_PREFIX}{user_id}__"


def _user_json(row) -> dict:
    return {"id": row.id, "username": row.username, "is_admin": bool(row.is_admin)}


def _permission_json(row) -> dict:
    return {"id": row.id, "role_id": row.role_id, "resource_type": row.resource_type,
            "resource_pattern": row.resource_pattern, "permission": row.permission}


def _bump(conn) -> None:
    conn.execute(auth_state.update().values(generation=auth_state.c.generation + 1))


def change_counter():
    """A counter in memory shared by the processes forked after it is made (gunicorn's workers)."""
    return multiprocessing.Value("q", 0)


class AuthStore:
    def __init__(self, database: Database, changes=None):
        self.db = database
        self.changes = changes if changes is not None else change_counter()

    def _write(self, work):
        """work(conn) in a write transaction that also marks the auth data as changed."""
        def changed(conn):
            result = work(conn)
            _bump(conn)
            return result
        result = self.db.write(changed)
        with self.changes.get_lock():
            self.changes.value += 1
        return result

    def local_changes(self) -> int:
        """How many changes this server's workers have made (no query)."""
        return self.changes.value

    def generation(self) -> int:
        """The database's count of changes, wherever they were made."""
        with self.db.read() as conn:
            return conn.execute(sa.select(auth_state.c.generation)).scalar_one()

    # ------------------------------------------------------------ users

    @staticmethod
    def _user(conn, username: str):
        row = conn.execute(sa.select(*_USER_COLUMNS).where(u.username == username)).first()
        if row is None:
            raise not_found(f"User with username={username} not found")
        return row

    def user(self, username: str):
        """The user's (id, username, password_hash, is_admin), or None."""
        with self.db.read() as conn:
            return conn.execute(sa.select(*_USER_COLUMNS).where(u.username == username)).first()

    def get_user(self, username: str) -> dict:
        with self.db.read() as conn:
            return _user_json(self._user(conn, username))

    def create_user(self, username: str, password_hash: str | None, is_admin: bool, now: int) -> dict:
        def work(conn):
            try:
                with conn.begin_nested():
                    user_id = conn.execute(users.insert().values(
                        username=username, password_hash=password_hash, is_admin=is_admin,
                        creation_time=now)).inserted_primary_key[0]
            except IntegrityError:
                raise already_exists(f"User (username={username}) already exists.") from None
            return {"id": user_id, "username": username, "is_admin": is_admin}
        return self._write(work)

    def update_user(self, username: str, password_hash: str | None = None, is_admin: bool | None = None) -> None:
        values = {k: v for k, v in (("password_hash", password_hash), ("is_admin", is_admin)) if v is not None}

        def work(conn):
            if not conn.execute(users.update().where(u.username == username).values(**values)).rowcount:
                raise not_found(f"User with username={username} not found")
        self._write(work)

    def delete_user(self, username: str) -> None:
        def work(conn):
            user = self._user(conn, username)
            conn.execute(roles.delete().where(r.name == own_role_name(user.id)))
            conn.execute(user_role_assignments.delete().where(ura.user_id == user.id))
            conn.execute(access_tokens.delete().where(t.user_id == user.id))
            conn.execute(users.delete().where(u.id == user.id))
        self._write(work)

    def list_users(self) -> list[dict]:
        """Every user with the roles assigned to them (their own role left out)."""
        with self.db.read() as conn:
            rows = conn.execute(sa.select(*_USER_COLUMNS).order_by(u.username)).all()
            assigned = conn.execute(sa.select(ura.user_id, ura.role_id)).all()
            by_id = {role["id"]: role for role in self._roles(conn, [])}
        roles_of: dict[int, list] = {}
        for user_id, role_id in assigned:
            if role_id in by_id:
                roles_of.setdefault(user_id, []).append(by_id[role_id])
        return [{**_user_json(row), "roles": roles_of.get(row.id, [])} for row in rows]

    # ------------------------------------------------------------ grants

    def grants(self, user_id: int) -> list[tuple[str, str, str]]:
        """(resource_type, resource_pattern, permission) of every role the user holds."""
        query = (sa.select(*_GRANT_COLUMNS).join(user_role_assignments, ura.role_id == rp.role_id)
                 .where(ura.user_id == user_id))
        with self.db.read() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def permission_rows(self, username: str) -> list[dict]:
        """Each grant the user holds, with the role that carries it."""
        query = (sa.select(r.id, r.name, r.workspace, *_GRANT_COLUMNS)
                 .join(user_role_assignments, ura.role_id == r.id).join(role_permissions, rp.role_id == r.id)
                 .where(ura.user_id == sa.select(u.id).where(u.username == username).scalar_subquery())
                 .order_by(r.id, rp.id))
        with self.db.read() as conn:
            self._user(conn, username)
            return [{"role_id": row.id, "role_name": row.name, "workspace": row.workspace,
                     "resource_type": row.resource_type, "resource_pattern": row.resource_pattern,
                     "permission": row.permission} for row in conn.execute(query)]

    def direct_grants_on(self, resource_type: str, pattern: str) -> list[dict]:
        """Who holds a grant of their own on the resource: [{username, permission}]."""
        query = (sa.select(u.id, u.username, r.name, rp.permission)
                 .join(roles, r.id == rp.role_id).join(user_role_assignments, ura.role_id == r.id)
                 .join(users, u.id == ura.user_id)
                 .where(rp.resource_type == resource_type, rp.resource_pattern == pattern)
                 .order_by(u.username))
        with self.db.read() as conn:
            return [{"username": row.username, "permission": row.permission}
                    for row in conn.execute(query) if row.name == own_role_name(row.id)]

    def _own_role(self, conn, user_id: int) -> int:
        """The id of the user's own role, made (and assigned) on first use."""
        name = own_role_name(user_id)
        role_id = conn.execute(sa.select(r.id).where(r.workspace == DEFAULT_WORKSPACE, r.name == name)).scalar()
        if role_id is None:
            role_id = conn.execute(roles.insert().values(
                name=name, workspace=DEFAULT_WORKSPACE)).inserted_primary_key[0]
            conn.execute(user_role_assignments.insert().values(user_id=user_id, role_id=role_id))
        return role_id

    def grant(self, username: str, resource_type: str, pattern: str, permission: str, replace: bool) -> None:
        """A grant of the user's own; an existing one is replaced, or refused unless `replace`."""
        def work(conn):
            role_id = self._own_role(conn, self._user(conn, username).id)
            where = (rp.role_id == role_id, rp.resource_type == resource_type, rp.resource_pattern == pattern)
            if conn.execute(sa.select(rp.id).where(*where)).first() is None:
                conn.execute(role_permissions.insert().values(
                    role_id=role_id, resource_type=resource_type, resource_pattern=pattern, permission=permission))
            elif replace:
                conn.execute(role_permissions.update().where(*where).values(permission=permission))
            else:
                raise already_exists(f"Permission for user={username} on resource_type={resource_type}, "
                                     f"resource_id={pattern} already exists.")
        self._write(work)

    def revoke(self, username: str, resource_type: str, pattern: str) -> None:
        def work(conn):
            role = (sa.select(r.id).where(r.workspace == DEFAULT_WORKSPACE,
                                          r.name == own_role_name(self._user(conn, username).id)).scalar_subquery())
            if not conn.execute(role_permissions.delete().where(
                    rp.role_id == role, rp.resource_type == resource_type, rp.resource_pattern == pattern)).rowcount:
                raise not_found(f"Permission for user={username} on resource_type={resource_type}, "
                                f"resource_id={pattern} not found.")
        self._write(work)

    def user_grant(self, username: str, resource_type: str, pattern: str) -> str | None:
        """The permission the user was granted directly on the resource, if any."""
        with self.db.read() as conn:
            role = own_role_name(self._user(conn, username).id)
            return conn.execute(sa.select(rp.permission).join(roles, r.id == rp.role_id).where(
                r.workspace == DEFAULT_WORKSPACE, r.name == role, rp.resource_type == resource_type,
                rp.resource_pattern == pattern)).scalar()

    def drop_grants(self, resource_types: tuple[str, ...], pattern: str) -> None:
        """The grants users hold of their own on a resource that is gone (its name may come back)."""
        def work(conn):
            conn.execute(role_permissions.delete().where(
                rp.resource_type.in_(resource_types), rp.resource_pattern == pattern,
                rp.role_id.in_(sa.select(r.id).where(r.name.like(f"{RESERVED_ROLE_PREFIX}%")))))
        self._write(work)

    def rename_grants(self, resource_types: tuple[str, ...], old: str, new: str) -> None:
        def work(conn):
            conn.execute(role_permissions.update().where(
                rp.resource_type.in_(resource_types), rp.resource_pattern == old).values(resource_pattern=new))
        self._write(work)

    # ------------------------------------------------------------ roles

    @staticmethod
    def _roles(conn, where: list) -> list[dict]:
        """Roles (users' own roles left out unless `where` names them) with their permissions."""
        found = conn.execute(sa.select(r.id, r.name, r.workspace, r.description).where(*where).order_by(r.id)).all()
        if not where:
            found = [row for row in found if not _OWN_ROLE.fullmatch(row.name)]
        permissions: dict[int, list] = {}
        if found:
            for row in conn.execute(sa.select(role_permissions).where(rp.role_id.in_([f.id for f in found]))
                                    .order_by(rp.id)):
                permissions.setdefault(row.role_id, []).append(_permission_json(row))
        return [{"id": row.id, "name": row.name, "workspace": row.workspace, "description": row.description,
                 "permissions": permissions.get(row.id, [])} for row in found]

    def _role(self, conn, role_id: int) -> dict:
        found = self._roles(conn, [r.id == role_id])
        if not found:
            raise not_found(f"Role with id={role_id} not found")
        return found[0]

    def get_role(self, role_id: int) -> dict:
        with self.db.read() as conn:
            return self._role(conn, role_id)

    def list_roles(self) -> list[dict]:
        with self.db.read() as conn:
            return self._roles(conn, [])

    def create_role(self, name: str, workspace: str, description: str | None) -> dict:
        def work(conn):
            try:
                with conn.begin_nested():
                    role_id = conn.execute(roles.insert().values(
                        name=name, workspace=workspace, description=description)).inserted_primary_key[0]
            except IntegrityError:
                raise already_exists(f"Role (name={name}, workspace={workspace}) already exists.") from None
            return self._role(conn, role_id)
        return self._write(work)

    def update_role(self, role_id: int, name: str | None, description: str | None) -> dict:
        def work(conn):
            self._changeable(self._role(conn, role_id))
            values = {k: v for k, v in (("name", name), ("description", description)) if v is not None}
            try:
                with conn.begin_nested():
                    conn.execute(roles.update().where(r.id == role_id).values(**values))
            except IntegrityError:
                raise already_exists(f"Role with name={name} already exists in workspace "
                                     f"{DEFAULT_WORKSPACE}") from None
            return self._role(conn, role_id)
        return self._write(work)

    @staticmethod
    def _changeable(role: dict) -> dict:
        if _OWN_ROLE.fullmatch(role["name"]):
            raise invalid(f"Role {role['name']!r} holds one user's own grants; change them with the "
                          f"users/permissions routes.")
        return role

    def delete_role(self, role_id: int) -> None:
        def work(conn):
            self._changeable(self._role(conn, role_id))
            conn.execute(roles.delete().where(r.id == role_id))
        self._write(work)

    def add_role_permission(self, role_id: int, resource_type: str, pattern: str, permission: str) -> dict:
        def work(conn):
            self._changeable(self._role(conn, role_id))
            try:
                with conn.begin_nested():
                    permission_id = conn.execute(role_permissions.insert().values(
                        role_id=role_id, resource_type=resource_type, resource_pattern=pattern,
                        permission=permission)).inserted_primary_key[0]
            except IntegrityError:
                raise already_exists(f"Role {role_id} already has a permission on resource_type={resource_type}, "
                                     f"resource_pattern={pattern}.") from None
            return {"id": permission_id, "role_id": role_id, "resource_type": resource_type,
                    "resource_pattern": pattern, "permission": permission}
        return self._write(work)

    @staticmethod
    def _role_permission(conn, permission_id: int):
        row = conn.execute(sa.select(role_permissions, r.name).join(roles, r.id == rp.role_id)
                           .where(rp.id == permission_id)).first()
        if row is None:
            raise not_found(f"Role permission with id={permission_id} not found")
        AuthStore._changeable({"name": row.name})
        return row

    def remove_role_permission(self, permission_id: int) -> None:
        def work(conn):
            self._role_permission(conn, permission_id)
            conn.execute(role_permissions.delete().where(rp.id == permission_id))
        self._write(work)

    def update_role_permission(self, permission_id: int, permission: str) -> dict:
        def work(conn):
            row = self._role_permission(conn, permission_id)
            conn.execute(role_permissions.update().where(rp.id == permission_id).values(permission=permission))
            return {**_permission_json(row), "permission": permission}
        return self._write(work)

    def list_role_permissions(self, role_id: int) -> list[dict]:
        with self.db.read() as conn:
            return self._role(conn, role_id)["permissions"]

    def assign_role(self, username: str, role_id: int) -> dict:
        def work(conn):
            user = self._user(conn, username)
            self._changeable(self._role(conn, role_id))
            try:
                with conn.begin_nested():
                    assignment_id = conn.execute(user_role_assignments.insert().values(
                        user_id=user.id, role_id=role_id)).inserted_primary_key[0]
            except IntegrityError:
                raise already_exists(f"User {username} already has role {role_id}.") from None
            return {"id": assignment_id, "user_id": user.id, "role_id": role_id}
        return self._write(work)

    def unassign_role(self, username: str, role_id: int) -> None:
        def work(conn):
            user = self._user(conn, username)
            self._changeable(self._role(conn, role_id))
            if not conn.execute(user_role_assignments.delete().where(
                    ura.user_id == user.id, ura.role_id == role_id)).rowcount:
                raise not_found(f"User {username} does not have role {role_id}.")
        self._write(work)

    def user_roles(self, username: str) -> list[dict]:
        with self.db.read() as conn:
            user = self._user(conn, username)
            return self._roles(conn, [r.id.in_(sa.select(ura.role_id).where(ura.user_id == user.id))])

    def role_users(self, role_id: int) -> list[dict]:
        with self.db.read() as conn:
            self._role(conn, role_id)
            rows = conn.execute(sa.select(ura.id, ura.user_id, ura.role_id, u.username)
                                .join(users, u.id == ura.user_id).where(ura.role_id == role_id).order_by(ura.id))
            return [{"id": row.id, "user_id": row.user_id, "role_id": row.role_id, "username": row.username}
                    for row in rows]

    # ------------------------------------------------------------ access tokens

    def create_token(self, username: str, name: str, token_hash: str, now: int, expiration: int) -> dict:
        def work(conn):
            user = self._user(conn, username)
            try:
                with conn.begin_nested():
                    token_id = conn.execute(access_tokens.insert().values(
                        user_id=user.id, name=name, token_hash=token_hash, creation_time=now,
                        expiration_time=expiration)).inserted_primary_key[0]
            except IntegrityError:
                raise already_exists(f"User {username} already has a token named '{name}'.") from None
            return {"id": token_id, "name": name, "creation_time": now, "expiration_time": expiration}
        return self._write(work)

    def tokens(self, username: str) -> list[dict]:
        with self.db.read() as conn:
            user = self._user(conn, username)
            rows = conn.execute(sa.select(t.id, t.name, t.creation_time, t.expiration_time)
                                .where(t.user_id == user.id).order_by(t.id))
            return [{"id": row.id, "name": row.name, "creation_time": row.creation_time,
                     "expiration_time": row.expiration_time} for row in rows]

    def delete_token(self, username: str, token_id: int) -> None:
        def work(conn):
            user = self._user(conn, username)
            if not conn.execute(access_tokens.delete().where(t.id == token_id, t.user_id == user.id)).rowcount:
                raise not_found(f"User {username} has no token with id={token_id}.")
        self._write(work)

    def token_owner(self, token_hash: str):
        """(the owner's (id, username, password_hash, is_admin), expiration_time), or None."""
        query = sa.select(*_USER_COLUMNS, t.expiration_time).join(access_tokens, t.user_id == u.id).where(
            t.token_hash == token_hash)
        with self.db.read() as conn:
            row = conn.execute(query).first()
        return None if row is None else (row, row.expiration_time)
