/* Sign-in page (/login): where to go after signing in, and the wrong-token message. */

import { $, setReady } from "../dom.js";

export function pageLogin() {
  const q = new URLSearchParams(location.search);
  const next = q.get("next") || "/";
  // only same-site paths; the server checks again
  $("#next").value = next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
  $("#login-error").hidden = q.get("error") !== "1";
  if (q.get("error") === "1") $("#token").setAttribute("aria-invalid", "true");
  setReady(true);
}
