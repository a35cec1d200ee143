"""Users, their credentials and what they may do: the rules of MLflow's basic-auth app, and
access tokens and a trusted proxy's word beyond it.

Passwords are hashed with argon2id (werkzeug hashes of users imported from the official
basic-auth app by `db import --auth-from` are checked as they are). Checking one costs about 40 ms of CPU by design, so each
worker remembers the credentials it has checked, keyed by the stored hash and a keyed digest of
the password (never the password): a new password or a deleted user no longer matches. The
users, grants and tokens each worker reads are kept in a snapshot while nothing changes (see
refresh): a change made through any worker applies to the next request on every worker, with
no query per request.
"""
from __future__ import annotations

import collections
import functools
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ..errors import MlflowError, invalid
from ..store.auth import DEFAULT_WORKSPACE, RESERVED_ROLE_PREFIX, AuthStore
from ..store.filters import Clause
from ..store.owners import Owners
from . import permissions as p
from . import sources

MIN_PASSWORD_LENGTH = 12  # the official server's rule
MAX_USERNAME_LENGTH = 255
TOKEN_PREFIX = "mlft_"
DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS = 90, 3650
# Failed sign-ins within a minute after which more from the same client address are refused
# (429) until they age out: for one username (guessing a password), and for any (spraying one).
FAILED_PER_USERNAME, FAILED_PER_ADDRESS, FAILED_WINDOW_SECONDS = 10, 100, 60.0
_CACHE_LIMIT = 100_000  # entries of each per-worker cache; full, it starts over
RECHECK_SECONDS = 2.0  # how often a worker reads the database's count of changes
_DAY_MS = 24 * 3600 * 1000
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)  # OWASP's minimum for argon2id


def unauthenticated(message: str = "You are not authenticated: send a username and password (HTTP Basic) "
                    "or an access token (Bearer).") -> MlflowError:
    return MlflowError(message, "UNAUTHENTICATED", headers={"WWW-Authenticate": 'Basic realm="mlflow"'})


def denied(message: str = "Permission denied") -> MlflowError:
    return MlflowError(message, "PERMISSION_DENIED")


@dataclass(frozen=True)
class Principal:
    """Who a request comes from."""
    id: int
    username: str
    is_admin: bool


def _now_ms() -> int:
    return int(time.time() * 1000)


def _check_username(username) -> str:
    if not isinstance(username, str) or not username.strip():
        raise invalid("Username cannot be empty.")
    if len(username) > MAX_USERNAME_LENGTH or ":" in username or any(ord(c) < 32 for c in username):
        raise invalid(f"Invalid username: at most {MAX_USERNAME_LENGTH} characters, no ':' and no control "
                      f"characters (HTTP Basic sends it before a ':').")
    return username


def _check_password(password) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise invalid(f"Password must be at least {MIN_PASSWORD_LENGTH} characters.")
    return password


def _int_arg(value, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise invalid(f"Parameter '{name}' must be an integer. Got: {value!r}") from None


class _Failures:
    """Recent failed sign-ins by key: (address,) and (address, username)."""

    def __init__(self):
        self._times: dict[tuple, collections.deque] = {}
        self._lock = threading.Lock()

    def check(self, keys: tuple) -> None:
        horizon = time.monotonic() - FAILED_WINDOW_SECONDS
        for key in keys:
            times = self._times.get(key)
            while times and times[0] < horizon:
                times.popleft()
            if times and len(times) >= (FAILED_PER_USERNAME if len(key) == 2 else FAILED_PER_ADDRESS):
                wait = int(times[0] - horizon) + 1
                raise MlflowError(f"Too many failed sign-ins from {key[0]}; try again in {wait} s.",
                                  "REQUEST_LIMIT_EXCEEDED", headers={"Retry-After": str(wait)})

    def add(self, key: tuple) -> None:
        with self._lock:
            if key not in self._times and len(self._times) >= _CACHE_LIMIT:
                self._times.clear()
            limit = FAILED_PER_USERNAME if len(key) == 2 else FAILED_PER_ADDRESS
            self._times.setdefault(key, collections.deque(maxlen=limit)).append(time.monotonic())


_MISSING = object()


@functools.cache
def _no_user_hash() -> str:
    """A hash to check the passwords of unknown users against, made on first use."""
    return _HASHER.hash(secrets.token_hex(16))


def _cached(cache: dict, key, load):
    """cache[key], loaded first if missing; a full cache starts over."""
    value = cache.get(key, _MISSING)
    if value is _MISSING:
        value = load()
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[key] = value
    return value


@dataclass
class _Snapshot:
    """What a worker read of the auth data at one generation. Each read stores into the
    snapshot it started from: one read before a change and stored after it lands in a
    snapshot already replaced, never in the current one."""
    generation: int | None  # the database's count of changes
    local: int | None  # this server's
    checked: float  # when the database's was last read (time.monotonic())
    users: dict = field(default_factory=dict)  # username -> (id, username, password_hash, is_admin) or None
    grants: dict = field(default_factory=dict)  # user id -> [(resource_type, pattern, permission)]
    tokens: dict = field(default_factory=dict)  # token hash -> (owner, expiration) or None


def bootstrap_admin(store: AuthStore, username: str, password: str) -> bool:
    """Create the admin user unless it exists (its password is then left alone); True when created."""
    if not username:
        raise invalid("no admin username: set MLFLOW_AUTH_ADMIN_USERNAME (or admin_username in the "
                      "file MLFLOW_AUTH_CONFIG_PATH names)")
    if store.user(username) is not None:
        return False
    if not password:
        raise invalid(f"no password for the admin user '{username}': set MLFLOW_AUTH_ADMIN_PASSWORD (or "
                      f"admin_password in the file MLFLOW_AUTH_CONFIG_PATH names); there is no default")
    try:
        _check_password(password)
    except MlflowError as error:
        raise invalid(f"the admin password (MLFLOW_AUTH_ADMIN_PASSWORD): {error.message}") from None
    try:
        store.create_user(_check_username(username), _HASHER.hash(password), True, _now_ms())
    except MlflowError as error:
        if error.error_code != "RESOURCE_ALREADY_EXISTS":  # another process made it meanwhile
            raise
    return True


def reset_password(store: AuthStore, username: str, password: str) -> None:
    """A user's new password, set from the server's machine (python -m app auth set-password)."""
    store.update_user(_check_username(username), password_hash=_HASHER.hash(_check_password(password)))


class AuthService:
    def __init__(self, store: AuthStore, owners: Owners, default_permission: str):
        self.store = store
        self.owners = owners
        self.default = p.check_permission(default_permission)
        self._digest_key = secrets.token_bytes(32)
        self._verified: dict[tuple, bool] = {}
        self._failures = _Failures()
        # immutable facts: a run's or a logged model's experiment (their ids are the server's)
        self._run_experiment: dict[str, int] = {}
        self._model_experiment: dict[str, int] = {}
        self._snapshot = _Snapshot(None, None, 0.0)

    # ------------------------------------------------------------ per-worker caches

    def refresh(self) -> None:
        """Once per request: start from a new snapshot when the auth data changed, at once after
        a change made through this server (its workers share a counter), within
        RECHECK_SECONDS after one made elsewhere (another replica, the command line)."""
        snapshot, local, now = self._snapshot, self.store.local_changes(), time.monotonic()
        if local == snapshot.local and now < snapshot.checked + RECHECK_SECONDS:
            return
        generation = self.store.generation()
        if (generation, local) != (snapshot.generation, snapshot.local):
            self._snapshot = _Snapshot(generation, local, now)
        else:
            snapshot.checked = now

    def _user(self, username: str):
        return _cached(self._snapshot.users, username, lambda: self.store.user(username))

    def grants_of(self, principal: Principal) -> list[p.Grant]:
        return _cached(self._snapshot.grants, principal.id, lambda: self.store.grants(principal.id))

    # ------------------------------------------------------------ signing in

    def _password_matches(self, stored_hash: str, password: str) -> bool:
        key = (stored_hash, hmac.digest(self._digest_key, password.encode(), "sha256"))
        if key in self._verified:
            return True
        if not stored_hash.startswith("$argon2"):  # the official app's werkzeug hash (db import --auth-from)
            from werkzeug.security import check_password_hash
            if not check_password_hash(stored_hash, password):
                return False
            return _cached(self._verified, key, lambda: True)
        try:
            _HASHER.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False
        return _cached(self._verified, key, lambda: True)

    def _failed(self, keys: tuple, message: str | None = None) -> MlflowError:
        for key in keys:
            self._failures.add(key)
        return unauthenticated(message) if message else unauthenticated()

    def sign_in(self, username: str, password: str, address: str) -> Principal:
        """The user of a username and password, or of an access token sent as the password."""
        if password.startswith(TOKEN_PREFIX):
            return self.sign_in_token(password, address)
        keys = ((address,), (address, username))
        self._failures.check(keys)
        self.refresh()
        user = self._user(username)
        if user is None or user.password_hash is None:
            self._password_matches(_no_user_hash(), password)  # as long as for a user who exists
            raise self._failed(keys)
        if not self._password_matches(user.password_hash, password):
            raise self._failed(keys)
        return Principal(user.id, user.username, bool(user.is_admin))

    def sign_in_token(self, token: str, address: str) -> Principal:
        self._failures.check(((address,),))
        self.refresh()
        return self._token_user(token, address)

    def _token_user(self, token: str, address: str) -> Principal:
        token_hash = hashlib.sha256(token.encode()).hexdigest()
        found = _cached(self._snapshot.tokens, token_hash, lambda: self.store.token_owner(token_hash))
        if found is None:
            raise self._failed(((address,),), "Invalid access token.")
        user, expiration = found
        if expiration <= _now_ms():
            raise unauthenticated("The access token has expired; create a new one.")
        return Principal(user.id, user.username, bool(user.is_admin))

    def sign_in_proxy(self, username: str) -> Principal:
        """The user a trusted proxy names; one it names for the first time is created, with
        no password (it signs in through the proxy only) and the default permission."""
        self.refresh()
        user = self._user(username)
        if user is None:
            try:
                self.store.create_user(_check_username(username), None, False, _now_ms())
            except MlflowError as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":  # another worker made it meanwhile
                    raise
            user = self.store.user(username)
        return Principal(user.id, user.username, bool(user.is_admin))

    # ------------------------------------------------------------ permissions

    def permission(self, principal: Principal, resource_type: str, resource_id: str) -> str:
        if principal.is_admin:
            return p.MANAGE
        return p.resolve(self.grants_of(principal), resource_type, str(resource_id), self.default)

    def model_type(self, name: str) -> str:
        """registered_model or prompt: which kind of grant a registered model's name takes."""
        return p.PROMPT if self.owners.prompts([name]) else p.REGISTERED_MODEL

    def run_experiments(self, run_ids: list[str]) -> dict[str, int]:
        """The experiment of each run that exists (a run never moves to another experiment)."""
        return self._experiments(self._run_experiment, self.owners.run_experiments, run_ids)

    def model_experiments(self, model_ids: list[str]) -> dict[str, int]:
        return self._experiments(self._model_experiment, self.owners.model_experiments, model_ids)

    def trace_experiments(self, trace_ids: list[str]) -> dict[str, int]:
        """The experiment of each trace that exists, read each time: trace ids are the client's,
        so a deleted trace's id can come back in another experiment."""
        return self.owners.trace_experiments(trace_ids)

    @staticmethod
    def _experiments(cache: dict, lookup, ids: list[str]) -> dict[str, int]:
        found = {i: cache[i] for i in ids if i in cache}
        if len(found) < len(ids):
            for key, experiment_id in lookup([i for i in ids if i not in found]).items():
                found[key] = _cached(cache, key, lambda: experiment_id)
        return found

    def experiment_named(self, name: str) -> int | None:
        return self.owners.experiment_named(name)

    def experiment_of_artifact(self, path: str) -> int | None:
        """The experiment an artifact-proxy path belongs to: the first segment of the
        default layout (<experiment id>/...), or the experiment whose artifact location
        (mlflow-artifacts:/...) holds it."""
        first = path.split("/", 1)[0]
        if first.isdigit():
            return int(first)
        parts = path.split("/")
        locations = [f"mlflow-artifacts:/{'/'.join(parts[:n])}" for n in range(1, len(parts) + 1)]
        return self.owners.experiment_at(locations)

    def source_resources(self, source: str) -> list[tuple[str, str]]:
        """What a model version's source reads, as (resource type, id): its run's or logged
        model's experiment, the registered model it copies, or the experiment its
        mlflow-artifacts:/ path belongs to. Other locations name no resource of this server."""
        if source in sources.PROMPT_SOURCES:
            return []
        uri = sources.split(source)
        segments = () if uri.authority else uri.segments
        if uri.scheme == "runs" and segments:
            return [(p.EXPERIMENT, str(self.run_experiments([segments[0]]).get(segments[0], "")))]
        if uri.scheme == "models" and len(segments) == 1:
            return [(p.EXPERIMENT, str(self.model_experiments([segments[0]]).get(segments[0], "")))]
        if uri.scheme == "models" and len(segments) == 2:
            return [(self.model_type(segments[0]), segments[0])]
        if uri.scheme == sources.PROXY_SCHEME and segments:
            experiment_id = self.experiment_of_artifact("/".join(segments))
            if experiment_id is None:
                raise denied("This source's artifact path belongs to no experiment; only admins may use it.")
            return [(p.EXPERIMENT, str(experiment_id))]
        return []

    def experiment_scope(self, principal: Principal) -> Clause | None:
        """A filter clause keeping the experiments the caller may read (None: all of them)."""
        if principal.is_admin:
            return None
        readable, others = p.exceptions(self.grants_of(principal), p.EXPERIMENT, self.default)
        if readable and not others:
            return None
        return Clause("attribute", "experiment_id", "NOT IN" if readable else "IN", tuple(sorted(others)))

    def model_scope(self, principal: Principal) -> Clause | None:
        """A filter clause on name keeping the registered models (and prompts) the caller may read."""
        if principal.is_admin:
            return None
        grants = self.grants_of(principal)
        models_readable, models = p.exceptions(grants, p.REGISTERED_MODEL, self.default)
        prompts_readable, prompts = p.exceptions(grants, p.PROMPT, self.default)
        if models_readable == prompts_readable:
            named = models | prompts
            is_prompt = self.owners.prompts(sorted(named))
            others = {n for n in named if n in (prompts if n in is_prompt else models)}
            readable = models_readable
        else:  # one kind readable and the other not: name every readable one
            everything = self.owners.model_names()
            readable, others = False, {n for n, prompt in everything.items() if p.allows(p.resolve(
                grants, p.PROMPT if prompt else p.REGISTERED_MODEL, n, self.default), "read")}
        if readable and not others:
            return None
        return Clause("attribute", "name", "NOT IN" if readable else "IN", tuple(sorted(others)))

    # ------------------------------------------------------------ users

    def create_user(self, username, password, is_admin: bool = False) -> dict:
        return self.store.create_user(_check_username(username), _HASHER.hash(_check_password(password)),
                                      is_admin, _now_ms())

    def get_user(self, username) -> dict:
        return self.store.get_user(_check_username(username))

    def list_users(self) -> list[dict]:
        return self.store.list_users()

    def set_password(self, username, password, current_password, caller: Principal) -> None:
        """An admin sets anyone's password; a user changing their own gives the current one."""
        password = _check_password(password)
        if caller.username == username:
            if not current_password:
                raise invalid("Current password is required when changing your own password.")
            user = self.store.user(username)
            if user is None or not user.password_hash or not self._password_matches(user.password_hash,
                                                                                   current_password):
                raise invalid("Current password does not match.")
            if password == current_password:
                raise invalid("New password must differ from the current password.")
        self.store.update_user(_check_username(username), password_hash=_HASHER.hash(password))

    def set_admin(self, username, is_admin) -> None:
        if not isinstance(is_admin, bool):
            raise invalid("Missing value for required parameter 'is_admin' (true or false).")
        self.store.update_user(_check_username(username), is_admin=is_admin)

    def delete_user(self, username, caller: Principal) -> None:
        if username == caller.username:
            raise MlflowError("Users cannot delete their own account. Ask another admin to delete this user "
                              "instead.", "BAD_REQUEST")
        self.store.delete_user(_check_username(username))

    # ------------------------------------------------------------ grants of one user

    @staticmethod
    def _target(resource_type, resource_id) -> tuple[str, str]:
        if resource_type == p.WORKSPACE:
            raise invalid("resource_type 'workspace' is not supported by the per-user permission routes; "
                          "grant it to a role (roles/permissions/add).")
        if not resource_id:
            raise invalid("Missing value for required parameter 'resource_id'.")
        p.check_grant(resource_type, str(resource_id), p.READ)
        return resource_type, str(resource_id)

    def grant(self, username, resource_type, resource_id, permission, replace: bool = False) -> None:
        resource_type, resource_id = self._target(resource_type, resource_id)
        self.store.grant(_check_username(username), resource_type, resource_id, p.check_permission(permission),
                         replace)

    def revoke(self, username, resource_type, resource_id) -> None:
        resource_type, resource_id = self._target(resource_type, resource_id)
        self.store.revoke(_check_username(username), resource_type, resource_id)

    def user_grant(self, username, resource_type, resource_id) -> dict:
        """The permission the user was granted directly on a resource (older clients' routes)."""
        resource_type, resource_id = self._target(resource_type, resource_id)
        permission = self.store.user_grant(_check_username(username), resource_type, resource_id)
        if permission is None:
            raise MlflowError(f"Permission for user={username} on resource_type={resource_type}, "
                              f"resource_id={resource_id} not found.", "RESOURCE_DOES_NOT_EXIST")
        return {"user_id": self.store.get_user(username)["id"], "permission": permission}

    def user_permission(self, username, resource_type, resource_id) -> str:
        """The permission a user has on a resource, resolved as for their requests."""
        resource_type, resource_id = self._target(resource_type, resource_id)
        user = self.store.user(_check_username(username))
        if user is None:
            raise MlflowError(f"User with username={username} not found", "RESOURCE_DOES_NOT_EXIST")
        principal = Principal(user.id, user.username, bool(user.is_admin))
        return self.permission(principal, resource_type, resource_id)

    def permission_rows(self, username) -> dict:
        user = self.store.get_user(_check_username(username))
        return {"is_admin": user["is_admin"], "permissions": self.store.permission_rows(username)}

    def grants_on(self, resource_type, resource_id) -> list[dict]:
        resource_type, resource_id = self._target(resource_type, resource_id)
        return self.store.direct_grants_on(resource_type, resource_id)

    def creator_manages(self, caller: Principal, resource_type: str, resource_id: str) -> None:
        """The creator of an experiment, registered model or prompt manages it."""
        self.store.grant(caller.username, resource_type, resource_id, p.MANAGE, replace=True)

    def model_deleted(self, name: str) -> None:
        """A registered model's grants go with it: a new model of that name starts without them."""
        self.store.drop_grants(p.MODEL_TYPES, name)

    def model_renamed(self, old: str, new: str) -> None:
        self.store.rename_grants(p.MODEL_TYPES, old, new)

    # ------------------------------------------------------------ roles

    @staticmethod
    def _role_name(name) -> str:
        if not isinstance(name, str) or not name.strip():
            raise invalid("Role name cannot be empty.")
        if name.startswith(RESERVED_ROLE_PREFIX):
            raise invalid(f"Role name {name!r} uses the reserved '{RESERVED_ROLE_PREFIX}' prefix, which holds "
                          f"one user's own grants. Choose a different name.")
        return name

    @staticmethod
    def _workspace(workspace) -> str:
        if workspace != DEFAULT_WORKSPACE:
            raise invalid(f"Workspace {workspace!r}: this server has no workspaces other than "
                          f"'{DEFAULT_WORKSPACE}'; create roles there.")
        return workspace

    @staticmethod
    def _description(description) -> str | None:
        if description is not None and (not isinstance(description, str) or len(description) > 1000):
            raise invalid("Role description must be a string of at most 1000 characters.")
        return description

    def create_role(self, workspace, name, description) -> dict:
        return self.store.create_role(self._role_name(name), self._workspace(workspace),
                                      self._description(description))

    def get_role(self, role_id) -> dict:
        return self.store.get_role(_int_arg(role_id, "role_id"))

    def list_roles(self, workspaces: list[str] | None) -> list[dict]:
        for workspace in workspaces or []:
            self._workspace(workspace)
        return self.store.list_roles()

    def update_role(self, role_id, name, description) -> dict:
        if name is None and description is None:
            raise invalid("At least one of 'name' or 'description' must be provided to update a role.")
        return self.store.update_role(_int_arg(role_id, "role_id"), None if name is None else self._role_name(name),
                                      self._description(description))

    def delete_role(self, role_id) -> None:
        self.store.delete_role(_int_arg(role_id, "role_id"))

    def add_role_permission(self, role_id, resource_type, pattern, permission) -> dict:
        p.check_grant(resource_type, pattern, permission)
        return self.store.add_role_permission(_int_arg(role_id, "role_id"), resource_type, pattern, permission)

    def remove_role_permission(self, permission_id) -> None:
        self.store.remove_role_permission(_int_arg(permission_id, "role_permission_id"))

    def list_role_permissions(self, role_id) -> list[dict]:
        return self.store.list_role_permissions(_int_arg(role_id, "role_id"))

    def update_role_permission(self, permission_id, permission) -> dict:
        return self.store.update_role_permission(_int_arg(permission_id, "role_permission_id"),
                                                 p.check_permission(permission))

    def assign_role(self, username, role_id) -> dict:
        return self.store.assign_role(_check_username(username), _int_arg(role_id, "role_id"))

    def unassign_role(self, username, role_id) -> None:
        self.store.unassign_role(_check_username(username), _int_arg(role_id, "role_id"))

    def user_roles(self, username) -> list[dict]:
        return self.store.user_roles(_check_username(username))

    def role_users(self, role_id) -> list[dict]:
        return self.store.role_users(_int_arg(role_id, "role_id"))

    # ------------------------------------------------------------ access tokens

    def create_token(self, username, name, expires_in_days) -> dict:
        """A new token; its secret is in the answer and nowhere else (only its hash is kept)."""
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise invalid("Missing value for required parameter 'name' (at most 255 characters).")
        days = DEFAULT_TOKEN_DAYS if expires_in_days is None else expires_in_days
        if not 1 <= days <= MAX_TOKEN_DAYS:
            raise invalid(f"expires_in_days must be between 1 and {MAX_TOKEN_DAYS}.")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = _now_ms()
        token = self.store.create_token(_check_username(username), name, hashlib.sha256(secret.encode()).hexdigest(),
                                        now, now + days * _DAY_MS)
        return {"token": token, "secret": secret}

    def list_tokens(self, username) -> list[dict]:
        return self.store.tokens(_check_username(username))

    def delete_token(self, username, token_id) -> None:
        self.store.delete_token(_check_username(username), _int_arg(token_id, "id"))
