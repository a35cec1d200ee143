// Who is signed in. The server has auth on when the page's body says so (data-auth, written by
// the server); without auth the page asks nothing and shows no sign-in or permission controls.
// The browser itself asks for the username and password (HTTP Basic) and sends them along.

import { currentUser, permissionOn } from "./auth-api.js";

let pending = null;

/** The signed-in user {id, username, is_admin}, or null when the server has no auth. */
export function signedIn() {
  if (!document.body.dataset.auth) return Promise.resolve(null);
  pending ||= currentUser().catch((error) => {
    pending = null;  // asked again next time
    throw error;
  });
  return pending;
}

/** Whether the signed-in user manages a resource (false without auth or on any error). */
export async function manages(resourceType, resourceId) {
  try {
    const user = await signedIn();
    if (!user) return false;
    if (user.is_admin) return true;
    return (await permissionOn(user.username, resourceType, resourceId)) === "MANAGE";
  } catch {
    return false;
  }
}

/** The page's view of the user may be stale (an admin changed their own admin flag): start over. */
export function restart() {
  location.reload();
}
