// The routes of the basic-auth app (users, roles, grants, access tokens), one function each.
// They exist only when the server runs with auth on.

import { del, get, patch, post, v3 } from "../api.js";

/** The levels a grant can hold, lowest first, with what each allows. */
export const PERMISSIONS = [
  ["READ", "see it"],
  ["USE", "see and use it"],
  ["EDIT", "change it: log runs, metrics, versions"],
  ["MANAGE", "delete it and manage who may use it"],
  ["NO_PERMISSIONS", "no access"],
  ["DENY", "no access, whatever a role grants"],
];

export const RESOURCE_TYPES = [
  ["experiment", "Experiment"],
  ["registered_model", "Registered model"],
  ["prompt", "Prompt"],
  ["workspace", "Workspace (every resource)"],
];

// ---------------------------------------------------------------- users

export const currentUser = async () => (await get("users/current")).user;
export const listUsers = async () => (await get("users/list")).users || [];
export const createUser = (username, password) => post("users/create", { username, password });
export const setPassword = (username, password, currentPassword) =>
  patch("users/update-password", { username, password, current_password: currentPassword || undefined });
export const setAdmin = (username, isAdmin) => patch("users/update-admin", { username, is_admin: isAdmin });
export const deleteUser = (username) => del("users/delete", { username });

/** A user's grants, each with the role that carries it: {is_admin, permissions: [...]}. */
export const userPermissions = (username) => v3.get("users/permissions/list", { username });
export const myPermissions = () => v3.get("users/current/permissions");
export const userRoles = async (username) => (await v3.get("users/roles/list", { username })).roles || [];

/** The permission a user has on one resource, resolved as for their requests. */
export const permissionOn = async (username, resourceType, resourceId) =>
  (await v3.get("users/permissions/get", { username, resource_type: resourceType, resource_id: resourceId })).permission;

// ---------------------------------------------------------------- grants on one resource

/** Who holds a grant of their own on the resource: [{username, permission}]. */
export const grantsOn = async (resourceType, resourceId) =>
  (await v3.get("permissions/list", { resource_type: resourceType, resource_id: resourceId })).permissions || [];

export const grant = (username, resourceType, resourceId, permission) =>
  v3.post("users/permissions/grant", { username, resource_type: resourceType, resource_id: resourceId, permission });

export const revoke = (username, resourceType, resourceId) =>
  v3.post("users/permissions/revoke", { username, resource_type: resourceType, resource_id: resourceId });

/** Change a grant in one request (the 2.x clients' update routes, which replace it in place). */
export function changeGrant(username, resourceType, resourceId, permission) {
  return resourceType === "experiment"
    ? patch("experiments/permissions/update", { experiment_id: resourceId, username, permission })
    : patch("registered-models/permissions/update", { name: resourceId, username, permission });
}

// ---------------------------------------------------------------- roles

export const listRoles = async () => (await v3.get("roles/list")).roles || [];
export const getRole = async (roleId) => (await v3.get("roles/get", { role_id: roleId })).role;
export const createRole = async (name, description) =>
  (await v3.post("roles/create", { workspace: "default", name, description: description || undefined })).role;
export const updateRole = (roleId, name, description) => v3.patch("roles/update", { role_id: roleId, name, description });
export const deleteRole = (roleId) => v3.del("roles/delete", { role_id: roleId });
export const addRolePermission = (roleId, resourceType, pattern, permission) =>
  v3.post("roles/permissions/add", { role_id: roleId, resource_type: resourceType, resource_pattern: pattern, permission });
export const updateRolePermission = (id, permission) => v3.patch("roles/permissions/update", { role_permission_id: id, permission });
export const removeRolePermission = (id) => v3.del("roles/permissions/remove", { role_permission_id: id });
export const roleUsers = async (roleId) => (await v3.get("roles/users/list", { role_id: roleId })).assignments || [];
export const assignRole = (username, roleId) => v3.post("roles/assign", { username, role_id: roleId });
export const unassignRole = (username, roleId) => v3.del("roles/unassign", { username, role_id: roleId });

// ---------------------------------------------------------------- access tokens

/** username: another user's (admins only); left out, the caller's own. */
export const listTokens = async (username) => (await get("users/tokens/list", { username })).tokens || [];
/** -> {token: {id, name, creation_time, expiration_time}, secret} (the secret only here). */
export const createToken = (name, days, username) => post("users/tokens/create", { name, expires_in_days: days, username });
export const deleteToken = (id, username) => del("users/tokens/delete", { id, username });
