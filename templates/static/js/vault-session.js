/**
 * vault-session.js: the signed-in browser's state for /account/, /vault/ and the favorite
 * button. Talks only to this site's /api (same origin, cookie session + CSRF header).
 *
 * Keys live in memory (a module-level variable holding non-extractable CryptoKeys). With
 * "stay unlocked on this device" the user key CryptoKey is also stored in IndexedDB (it
 * stays non-extractable there); signing out deletes it. Nothing plaintext is ever sent.
 *
 * Fingerprinted asset names rule out static imports: the page passes the crypto module.
 */

const DB_NAME = "sorastats-vault";
const STORE = "keys";
const SIGNED_IN_HINT = "sorastats.signedIn"; // no secret: lets public pages skip /api/me

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function idb() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE);
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function idbDo(mode, action) {
  const db = await idb();
  try {
    return await new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const request = action(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(request && request.result);
      tx.onerror = () => reject(tx.error);
    });
  } finally {
    db.close();
  }
}

export function randomHexId() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// What /vault/import/ keeps between page loads (counts and unused reserved ids, never
// text): it belongs to the account, so it goes at sign-out.
const IMPORT_KEYS = ["sorastats.import.run", "sorastats.import.ids"];

function forgetImport() {
  for (const key of IMPORT_KEYS) {
    try {
      localStorage.removeItem(key);
    } catch {
      // Storage disabled: nothing was kept.
    }
  }
}

export function hintedSignedIn() {
  try {
    return localStorage.getItem(SIGNED_IN_HINT) === "1";
  } catch {
    return false;
  }
}

function setHint(on) {
  try {
    if (on) localStorage.setItem(SIGNED_IN_HINT, "1");
    else localStorage.removeItem(SIGNED_IN_HINT);
  } catch {
    /* storage disabled: public pages just do not show the favorite button */
  }
}

export class Session {
  constructor(vc) {
    this.vc = vc;
    this.csrf = "";
    this.user = null;
    this.userKey = null;
    this.config = null;
  }

  async api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && this.csrf) headers["X-CSRF-Token"] = this.csrf;
    const response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
    });
    let data = null;
    try {
      data = await response.json();
    } catch {
      data = null;
    }
    if (!response.ok) {
      const error = (data && data.error) || {};
      throw new ApiError(response.status, error.code || "error", error.message || response.statusText);
    }
    return data;
  }

  /** The KDF iterations new passwords use: the server's minimum, never below the floor. */
  async iterations() {
    if (!this.config) this.config = await this.api("GET", "/api/vault/config");
    return Math.max(this.vc.MIN_ITERATIONS, this.config.kdf_iterations);
  }

  /** Restores the signed-in state after a page load: user, CSRF token, stored key. */
  async resume() {
    try {
      const me = await this.api("GET", "/api/me");
      this.user = me.user;
      this.csrf = me.csrf_token;
      setHint(true);
    } catch (error) {
      if (error.status === 401) {
        setHint(false);
        return false;
      }
      throw error;
    }
    this.userKey = await loadKey(this.user.id);
    return true;
  }

  get unlocked() {
    return this.userKey !== null;
  }

  async register(email, password) {
    const userId = randomHexId();
    const keys = await this.vc.createAccountKeys(password, userId, await this.iterations());
    await this.api("POST", "/api/auth/register", {
      email,
      user_id: userId,
      auth_key: this.vc.b64urlEncode(keys.authKey),
      kdf: keys.kdf,
      wrapped_user_key: keys.wrappedUserKey,
      recovery_auth_key: this.vc.b64urlEncode(keys.recoveryAuthKey),
      // Our recovery keys come from the code with its fixed salt (docs/encryption.md);
      // this is the account's recovery_kdf record, with a salt of its own, never kdf's,
      // so prelogin answers look like every other account's.
      recovery_kdf: { ...keys.kdf, salt: this.vc.b64urlEncode(this.vc.randomBytes(16)) },
      recovery_wrapped_user_key: keys.recoveryWrappedUserKey,
    });
    return keys.recoveryCode;
  }

  async signIn(email, password, stay) {
    const pre = await this.api("GET", `/api/auth/prelogin?email=${encodeURIComponent(email)}`);
    const { authKey, kek } = await this.vc.deriveLoginKeys(password, pre.kdf);
    const answer = await this.api("POST", "/api/auth/login", {
      email,
      auth_key: this.vc.b64urlEncode(authKey),
    });
    await this.adopt(answer, kek, stay);
  }

  async adopt(answer, kek, stay) {
    this.user = answer.user;
    this.csrf = answer.csrf_token;
    setHint(true);
    this.userKey = await this.vc.unwrapUserKey(kek, answer.wrapped_user_key, this.user.id);
    if (stay) await storeKey(this.user.id, this.userKey);
  }

  /** Signed in but locked (a reload without "stay unlocked"): the password unlocks. */
  async unlock(password, stay) {
    const keys = await this.api("GET", "/api/vault/keys");
    const { kek } = await this.vc.deriveLoginKeys(password, keys.kdf);
    this.userKey = await this.vc.unwrapUserKey(kek, keys.wrapped_user_key, keys.user_id);
    if (stay) await storeKey(keys.user_id, this.userKey);
    document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_unlock" })); // usage metrics: the name only
  }

  async lock() {
    this.userKey = null;
    if (this.user) await forgetKey(this.user.id);
  }

  async signOut() {
    try {
      await this.api("POST", "/api/auth/logout", {});
    } finally {
      await forgetAllKeys();
      forgetImport();
      setHint(false);
      this.user = null;
      this.userKey = null;
      this.csrf = "";
    }
  }

  async changePassword(currentPassword, newPassword) {
    const keys = await this.api("GET", "/api/vault/keys");
    const current = await this.vc.deriveLoginKeys(currentPassword, keys.kdf);
    const fresh = await this.vc.newPasswordKeys(newPassword, await this.iterations());
    // Unwrapping with the current kek also proves the password before anything is sent.
    const wrapped = await this.vc.rewrapUserKey(
      current.kek,
      keys.wrapped_user_key,
      keys.user_id,
      fresh.kek,
    );
    return this.api("POST", "/api/auth/password", {
      current_auth_key: this.vc.b64urlEncode(current.authKey),
      auth_key: this.vc.b64urlEncode(fresh.authKey),
      kdf: fresh.kdf,
      wrapped_user_key: wrapped,
    });
  }

  async recover(email, code, newPassword, stay) {
    const recovery = await this.vc.deriveRecoveryKeys(code);
    const proof = { email, recovery_auth_key: this.vc.b64urlEncode(recovery.authKey) };
    const found = await this.api("POST", "/api/auth/recover/keys", proof);
    const fresh = await this.vc.newPasswordKeys(newPassword, await this.iterations());
    const wrapped = await this.vc.rewrapUserKey(
      recovery.kek,
      found.recovery_wrapped_user_key,
      found.user_id,
      fresh.kek,
    );
    const answer = await this.api("POST", "/api/auth/recover", {
      ...proof,
      auth_key: this.vc.b64urlEncode(fresh.authKey),
      kdf: fresh.kdf,
      wrapped_user_key: wrapped,
    });
    await this.adopt(answer, fresh.kek, stay);
  }
}

async function storeKey(userId, key) {
  await idbDo("readwrite", (store) => store.put(key, userId));
}

async function loadKey(userId) {
  try {
    const key = await idbDo("readonly", (store) => store.get(userId));
    return key instanceof CryptoKey ? key : null;
  } catch {
    return null;
  }
}

async function forgetKey(userId) {
  await idbDo("readwrite", (store) => store.delete(userId));
}

async function forgetAllKeys() {
  try {
    await idbDo("readwrite", (store) => store.clear());
  } catch {
    /* nothing stored */
  }
}

/** Small DOM helpers shared by the pages; text always goes in as textContent. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === "text") node.textContent = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

// The vault pages' gate (vault.html, vault-import.html share its forms): sign in, or
// unlock a remembered session, then `enter()`; `show(view)` picks "vault-signin" or
// "vault-unlock" while the page waits.
export async function openVault(session, show, enter) {
  const $ = (id) => document.getElementById(id);
  const submit = (form, status, busy, act) =>
    $(form).addEventListener("submit", async (event) => {
      event.preventDefault();
      const f = Object.fromEntries(new FormData(event.target).entries());
      try {
        say($(status), busy);
        await act(f);
        event.target.reset();
        say($(status), "");
        await enter();
      } catch (error) {
        say($(status), describe(error), "error");
      }
    });
  submit("vault-signin-form", "vault-signin-status", "Signing in…", (f) =>
    session.signIn(f.email.trim(), f.password, f.stay === "on"),
  );
  submit("unlock-form", "unlock-status", "Unlocking…", (f) =>
    session.unlock(f.password, f.stay === "on"),
  );
  try {
    if (!(await session.resume())) show("vault-signin");
    else if (!session.unlocked) show("vault-unlock");
    else await enter();
  } catch (error) {
    show("vault-signin");
    say($("vault-signin-status"), describe(error), "error");
  }
}

export function say(target, message, kind = "info") {
  target.textContent = message;
  target.dataset.kind = kind;
}

export function describe(error) {
  if (error && error.code === "decrypt") return "Wrong password.";
  if (error && error.code === "invalid_credentials") return "Wrong email or password.";
  return (error && error.message) || String(error);
}
