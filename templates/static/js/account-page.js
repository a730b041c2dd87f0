// /account/: register (recovery code shown once), sign in/out, profile (display name and
// email: correction of every field), sessions, password change, recovery, export (also
// decrypted here), restriction (freeze and lift), deletion. Every key is derived here; the server gets only auth keys
// and wrapped keys.
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe } = await import(root.dataset.session);
const { decryptExport, toMarkdown } = await import(root.dataset.export);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);
const views = { out: $("signed-out"), in: $("signed-in"), code: $("recovery-code-view") };

function show(view) {
  for (const [name, node] of Object.entries(views)) node.hidden = name !== view;
}

function busy(form, on) {
  for (const control of form.querySelectorAll("button, input")) control.disabled = on;
}

function handle(form, status, work) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form); // before disabling: disabled inputs are not submitted
    busy(form, true);
    say(status, "Working…");
    try {
      await work(data);
    } catch (error) {
      say(status, describe(error), "error");
    } finally {
      busy(form, false);
    }
  });
}

function fieldsOf(data) {
  return Object.fromEntries(data.entries());
}

handle($("register-form"), $("register-status"), async (data) => {
  const f = fieldsOf(data);
  if (f.password !== f.password2) throw new Error("The two passwords differ.");
  if (f.password.length < 10) throw new Error("Use a password of at least 10 characters.");
  const code = await session.register(f.email.trim(), f.password);
  $("register-form").reset();
  say($("register-status"), "");
  $("recovery-code").textContent = code;
  $("recovery-saved").checked = false;
  $("recovery-done").disabled = true;
  show("code");
  $("recovery-code-heading").focus();
});

$("recovery-saved").addEventListener("change", (event) => {
  $("recovery-done").disabled = !event.target.checked;
});

$("recovery-done").addEventListener("click", () => {
  $("recovery-code").textContent = ""; // shown once: gone from the page for good
  show("out");
  say(
    $("signin-status"),
    "Account created. Confirm your email address with the link we sent, then sign in.",
  );
  $("signin-email").focus();
});

handle($("signin-form"), $("signin-status"), async (data) => {
  const f = fieldsOf(data);
  await session.signIn(f.email.trim(), f.password, f.stay === "on");
  $("signin-form").reset();
  say($("signin-status"), "");
  await showSignedIn();
});

handle($("recover-form"), $("recover-status"), async (data) => {
  const f = fieldsOf(data);
  if (f.password.length < 10) throw new Error("Use a password of at least 10 characters.");
  await session.recover(f.email.trim(), f.code, f.password, f.stay === "on");
  $("recover-form").reset();
  say($("recover-status"), "");
  await showSignedIn("Password reset with your recovery code. Every prompt is still yours.");
});

handle($("password-form"), $("password-status"), async (data) => {
  const f = fieldsOf(data);
  if (f.password.length < 10) throw new Error("Use a password of at least 10 characters.");
  try {
    const answer = await session.changePassword(f.current, f.password);
    $("password-form").reset();
    say($("password-status"), `Password changed; ${answer.sessions_revoked} other sessions ended.`);
    await listSessions();
  } catch (error) {
    if (error.code === "reauthentication_required") {
      throw new Error("For safety, sign out and in again (within 10 minutes) to do this.");
    }
    throw error;
  }
});

function showProfile() {
  const form = $("profile-form");
  form.elements.display_name.value = session.user.display_name;
  form.elements.email.value = session.user.email;
  const pending = $("pending-email");
  pending.hidden = !session.user.pending_email;
  pending.textContent = session.user.pending_email
    ? `Waiting for confirmation: ${session.user.pending_email} (open the link we sent to it).`
    : "";
}

handle($("profile-form"), $("profile-status"), async (data) => {
  const f = fieldsOf(data);
  const changes = {};
  if (f.display_name !== session.user.display_name) changes.display_name = f.display_name;
  const email = f.email.trim().toLowerCase();
  if (email !== session.user.email) changes.email = email;
  if (Object.keys(changes).length === 0) {
    say($("profile-status"), "Nothing to change.");
    return;
  }
  const answer = await session.api("PATCH", "/api/me", changes);
  session.user = answer.user;
  showProfile();
  say(
    $("profile-status"),
    changes.email
      ? `Saved. Your email changes once you open the link we sent to ${email}.`
      : "Saved.",
  );
});

$("signout").addEventListener("click", async () => {
  await session.signOut();
  show("out");
  say($("signin-status"), "Signed out.");
});

function download(name, type, text) {
  const link = el("a", { href: URL.createObjectURL(new Blob([text], { type })), download: name });
  document.body.append(link);
  link.click();
  link.remove();
}

$("export").addEventListener("click", async () => {
  try {
    const data = await session.api("GET", "/api/me/export");
    download("sorastats-account.json", "application/json", JSON.stringify(data, null, 2));
    say($("export-status"), "Downloaded sorastats-account.json (prompts stay encrypted in it).");
  } catch (error) {
    say($("export-status"), describe(error), "error");
  }
});

// Portability: the vault decrypted here, with the key in this tab (the password unlocks
// it when the tab is locked); only ciphertext ever comes from, or goes to, the server.
async function downloadDecrypted(shape) {
  const status = $("export-plain-status");
  const unlockForm = $("export-unlock-form");
  try {
    if (!session.unlocked) {
      const password = unlockForm.elements.password.value;
      if (unlockForm.hidden || !password) {
        unlockForm.hidden = false;
        unlockForm.elements.password.focus();
        throw new Error("Enter your password to decrypt your prompts in this browser.");
      }
      say(status, "Decrypting…");
      await session.unlock(password, false);
      unlockForm.reset();
      unlockForm.hidden = true;
    }
    say(status, "Decrypting…");
    const doc = await decryptExport(session.vc, session.userKey, await session.api("GET", "/api/me/export"));
    if (shape === "json") {
      download("sorastats-vault-decrypted.json", "application/json", JSON.stringify(doc, null, 2));
    } else {
      download("sorastats-vault-decrypted.md", "text/markdown", toMarkdown(doc));
    }
    const name = shape === "json" ? "sorastats-vault-decrypted.json" : "sorastats-vault-decrypted.md";
    say(status, `Downloaded ${name} (${doc.prompts.length} prompts, decrypted in this browser).`);
    document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_export" })); // usage metrics
  } catch (error) {
    say(status, describe(error), "error");
  }
}

$("export-json").addEventListener("click", () => downloadDecrypted("json"));
$("export-markdown").addEventListener("click", () => downloadDecrypted("markdown"));
$("export-unlock-form").addEventListener("submit", (event) => {
  event.preventDefault();
  downloadDecrypted("json");
});

handle($("delete-form"), $("delete-status"), async (data) => {
  if (data.get("confirm").trim().toLowerCase() !== session.user.email) {
    throw new Error("Type your email address exactly to confirm.");
  }
  try {
    await session.api("DELETE", "/api/me");
  } catch (error) {
    if (error.code === "reauthentication_required") {
      throw new Error("For safety, sign out and in again (within 10 minutes) to do this.");
    }
    throw error;
  }
  await session.signOut().catch(() => {});
  show("out");
  say($("signin-status"), "Your account and everything in it were deleted.");
});

function showRestriction() {
  const since = session.user.restricted_at;
  $("restrict").hidden = Boolean(since);
  $("lift").hidden = !since;
  say(
    $("restrict-status"),
    since ? `Your account is restricted since ${new Date(since * 1000).toLocaleString()}.` : "",
  );
}

async function setRestriction(on) {
  try {
    const answer = await session.api(on ? "POST" : "DELETE", "/api/me/restriction", on ? {} : undefined);
    session.user = answer.user;
    await showSignedIn(on ? "Your account is restricted." : "The restriction is lifted.");
  } catch (error) {
    const message =
      error.code === "reauthentication_required"
        ? "For safety, sign out and in again (within 10 minutes) to do this."
        : describe(error);
    say($("restrict-status"), message, "error");
  }
}

$("restrict").addEventListener("click", () => setRestriction(true));
$("lift").addEventListener("click", () => setRestriction(false));

async function listSessions() {
  const list = $("sessions");
  const { sessions } = await session.api("GET", "/api/sessions");
  list.replaceChildren(
    ...sessions.map((s) => {
      const when = new Date(s.last_seen_at * 1000).toLocaleString();
      const label = `${s.device || "Unknown device"} · last seen ${when}${s.current ? " (this one)" : ""}`;
      const revoke = el("button", {
        type: "button",
        text: s.current ? "Sign out here" : "Revoke",
        "aria-label": `Revoke session: ${label}`,
        onclick: async () => {
          await session.api("DELETE", `/api/sessions/${encodeURIComponent(s.id)}`);
          if (s.current) {
            await session.signOut().catch(() => {});
            show("out");
            return;
          }
          await listSessions();
        },
      });
      return el("li", {}, el("span", { text: label }), " ", revoke);
    }),
  );
}

async function showSignedIn(message = "") {
  $("account-email").textContent = session.user.email;
  $("lock-state").textContent = session.unlocked
    ? "Your vault is unlocked in this tab."
    : "Your vault is locked: open the vault and enter your password.";
  showProfile();
  showRestriction();
  show("in");
  if (!session.user.restricted_at) {
    // The account's settings follow the user to this browser.
    keepSettings((await session.api("GET", "/api/me/settings")).settings);
  }
  say($("account-status"), message);
  if (session.user.restricted_at) {
    $("sessions").replaceChildren(el("li", { text: "Hidden while your account is restricted." }));
  } else {
    await listSessions();
  }
  $("account-heading").focus();
}

// Site settings: this browser's copy (localStorage "sorastats.settings", read by site.js
// and metrics.js on every page) and, signed in, the account's (GET/PUT /api/me/settings).
const SETTINGS_KEY = "sorastats.settings";
const settingsForm = $("settings-form");

function localSettings() {
  try {
    return JSON.parse(localStorage.getItem(SETTINGS_KEY) || "{}") || {};
  } catch {
    return {};
  }
}

function applySettings(s) {
  const form = settingsForm.elements;
  form.theme.value = s.theme || "system";
  form.leaderboard_window.value = s.leaderboard_window || "7d";
  form.metrics_objection.checked = s.metrics_objection === true;
  if (s.theme === "light" || s.theme === "dark") document.documentElement.dataset.theme = s.theme;
  else delete document.documentElement.dataset.theme;
}

function keepSettings(s) {
  localStorage.setItem(SETTINGS_KEY, JSON.stringify(s));
  applySettings(s);
}

applySettings(localSettings());

handle(settingsForm, $("settings-status"), async (data) => {
  const chosen = {
    theme: data.get("theme"),
    leaderboard_window: data.get("leaderboard_window"),
    metrics_objection: data.get("metrics_objection") === "on",
  };
  if (session.user && !session.user.restricted_at) {
    keepSettings((await session.api("PUT", "/api/me/settings", chosen)).settings);
    say($("settings-status"), "Saved in your account and this browser.");
  } else {
    keepSettings(chosen);
    say($("settings-status"), "Saved in this browser.");
  }
});

try {
  if (await session.resume()) await showSignedIn();
  else show("out");
} catch (error) {
  show("out");
  say($("signin-status"), describe(error), "error");
}
root.dataset.ready = "1";
