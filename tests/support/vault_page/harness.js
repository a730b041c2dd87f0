// Test harness for templates/static/js/vault-crypto.js: every function takes and returns
// JSON-friendly values (bytes as hex) so Python tests can compare them with the golden
// vectors and with the Python reference. Loaded as a module under a strict CSP.
import * as vc from "/static/js/vault-crypto.js";

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const unhex = (text) => new Uint8Array((text.match(/../g) || []).map((h) => parseInt(h, 16)));
const utf8 = (text) => new TextEncoder().encode(text);
const fromUtf8 = (bytes) => new TextDecoder("utf-8", { fatal: true }).decode(bytes);
const keyOf = (hexKey) => vc.importAesKey(unhex(hexKey));

// A non-extractable key proves which key it is by sealing a fixed message with a fixed IV;
// Python computes the same envelope from the raw key it expects.
const PROOF_IV = unhex("000102030405060708090a0b");
const proof = (key) => vc.testing.sealWithIv(key, PROOF_IV, utf8("proof"), "pv1|test|proof");

async function outcome(run) {
  try {
    const value = await run();
    return { ok: true, value: value instanceof Uint8Array ? hex(value) : value };
  } catch (error) {
    const code = error instanceof vc.VaultCryptoError ? error.code : `other:${error.name}`;
    return { ok: false, code, message: String(error.message) };
  }
}

async function exportable(key) {
  return (await outcome(() => crypto.subtle.exportKey("raw", key))).ok;
}

async function derivation(v) {
  const salt = unhex(v.salt);
  const master = await vc.deriveMaster(v.password, salt, v.iterations);
  const { authKey, kek } = await vc.deriveKeys(v.password, salt, v.iterations);
  const check = v.kek_check;
  return {
    master: hex(master),
    authKey: hex(authKey),
    authKeyB64url: vc.b64urlEncode(authKey),
    kekFromHkdf: hex(await vc.testing.hkdfBytes(master, "sorastats/kek")),
    kekCheck: await vc.testing.sealWithIv(
      kek, unhex(check.iv), utf8(check.plaintext), check.associated_data),
    kekExtractable: kek.extractable,
    kekExportable: await exportable(kek),
  };
}

async function envelope(v) {
  const key = await keyOf(v.key);
  return {
    sealed: await vc.testing.sealWithIv(key, unhex(v.iv), utf8(v.plaintext), v.associated_data),
    opened: fromUtf8(await vc.openEnvelope(key, v.envelope, v.associated_data)),
    iv: hex(vc.parseEnvelope(v.envelope).iv),
  };
}

async function keyWrapping(v) {
  const wrapping = await keyOf(v.wrapping_key);
  const sealed = await vc.testing.sealWithIv(wrapping, unhex(v.iv), unhex(v.key), v.associated_data);
  const place = { userId: v.user_id, promptId: v.prompt_id };
  const key = v.kind === "uk"
    ? await vc.unwrapUserKey(wrapping, v.envelope, v.user_id)
    : await vc.unwrapItemKey(wrapping, v.envelope, place);
  return { sealed, proof: await proof(key), exportable: await exportable(key) };
}

async function chain(c) {
  const { kek } = await vc.deriveKeys(c.password, vc.b64urlDecode(c.salt_b64url), c.iterations);
  const userKey = await vc.unwrapUserKey(kek, c.wrapped_user_key, c.user_id);
  const place = { userId: c.user_id, promptId: c.prompt_id };
  const itemKey = await vc.unwrapItemKey(userKey, c.wrapped_item_key, place);
  const fields = [];
  for (const f of c.fields) {
    fields.push(await vc.decryptField(itemKey, f.envelope, { ...place, version: f.version, field: f.field }));
  }
  const tag = await vc.decryptTagName(userKey, c.tag.envelope, { userId: c.user_id, tagId: c.tag.tag_id });
  return { userKeyProof: await proof(userKey), itemKeyProof: await proof(itemKey), fields, tag };
}

async function recovery(v) {
  const code = vc.recoveryCodeFromBytes(unhex(v.code_bytes));
  if (!v.master) return { code };
  const master = await vc.deriveRecoveryMaster(v.code, v.iterations);
  const { authKey, kek } = await vc.deriveRecoveryKeys(v.code.toLowerCase(), v.iterations);
  const userKey = await vc.unwrapUserKey(kek, v.recovery_wrapped_user_key, v.user_id);
  return {
    code,
    canonical: vc.normalizeRecoveryCode(v.code),
    master: hex(master),
    authKey: hex(authKey),
    userKeyProof: await proof(userKey),
  };
}

const outcomes = (items, run) => Promise.all(items.map((item) => outcome(() => run(item))));

async function tamper(cases) {
  return outcomes(cases, async (c) => vc.openEnvelope(await keyOf(c.key), c.envelope, c.associated_data));
}

/** Registration, a prompt, a tag and a password change, as the vault UI will do them. */
async function createAccount(a) {
  const account = await vc.createAccountKeys(a.password, a.userId, a.iterations);
  const place = { userId: a.userId, promptId: a.promptId };
  const { itemKey, wrappedItemKey } = await vc.createItemKey(account.userKey, place);
  const fields = [];
  for (const f of a.fields) {
    fields.push(await vc.encryptField(itemKey, { ...place, version: f.version, field: f.field }, f.text));
  }
  const tag = await vc.encryptTagName(account.userKey, { userId: a.userId, tagId: a.tagId }, a.tagName);
  const changed = await vc.newPasswordKeys(a.newPassword, a.iterations);
  const recovery = await vc.deriveRecoveryKeys(account.recoveryCode);
  const recovered = await vc.newPasswordKeys(a.recoveredPassword, a.iterations);
  return {
    authKey: vc.b64urlEncode(account.authKey),
    kdf: account.kdf,
    recoveryCode: account.recoveryCode,
    recoveryAuthKey: vc.b64urlEncode(account.recoveryAuthKey),
    wrappedUserKey: account.wrappedUserKey,
    recoveryWrappedUserKey: account.recoveryWrappedUserKey,
    wrappedItemKey,
    fields,
    tag,
    userKeyExportable: await exportable(account.userKey),
    itemKeyExportable: await exportable(itemKey),
    changed: {
      authKey: vc.b64urlEncode(changed.authKey),
      kdf: changed.kdf,
      wrappedUserKey: await vc.rewrapUserKey(account.kek, account.wrappedUserKey, a.userId, changed.kek),
    },
    recovered: {
      recoveryAuthKey: vc.b64urlEncode(recovery.authKey),
      authKey: vc.b64urlEncode(recovered.authKey),
      kdf: recovered.kdf,
      wrappedUserKey: await vc.rewrapUserKey(
        recovery.kek, account.recoveryWrappedUserKey, a.userId, recovered.kek),
    },
  };
}

/** Sign in on a new device with what the server stores, then decrypt everything. */
async function openAccount(a) {
  const { authKey, kek } = await vc.deriveLoginKeys(a.password, a.kdf);
  const userKey = await vc.unwrapUserKey(kek, a.wrappedUserKey, a.userId);
  const place = { userId: a.userId, promptId: a.promptId };
  const itemKey = await vc.unwrapItemKey(userKey, a.wrappedItemKey, place);
  const fields = [];
  for (const f of a.fields) {
    fields.push(await vc.decryptField(itemKey, f.envelope, { ...place, version: f.version, field: f.field }));
  }
  const tag = await vc.decryptTagName(userKey, a.tag, { userId: a.userId, tagId: a.tagId });
  return { authKey: vc.b64urlEncode(authKey), fields, tag };
}

function idb(run) {
  return new Promise((resolve, reject) => {
    const open = indexedDB.open("vault-test", 1);
    open.onupgradeneeded = () => open.result.createObjectStore("keys");
    open.onerror = () => reject(open.error);
    open.onsuccess = () => {
      const tx = open.result.transaction("keys", "readwrite");
      const request = run(tx.objectStore("keys"));
      tx.oncomplete = () => { open.result.close(); resolve(request.result); };
      tx.onerror = () => reject(tx.error);
    };
  });
}

/** "Stay unlocked on this device": keep the non-extractable user key in IndexedDB. */
async function storeUserKey(c) {
  const { kek } = await vc.deriveKeys(c.password, vc.b64urlDecode(c.salt_b64url), c.iterations);
  const userKey = await vc.unwrapUserKey(kek, c.wrapped_user_key, c.user_id);
  await idb((store) => store.put(userKey, "userKey"));
}

async function loadUserKey(c) {
  const userKey = await idb((store) => store.get("userKey"));
  return {
    isCryptoKey: userKey instanceof CryptoKey,
    extractable: userKey.extractable,
    exportable: await exportable(userKey),
    tag: await vc.decryptTagName(userKey, c.tag.envelope, { userId: c.user_id, tagId: c.tag.tag_id }),
  };
}

window.vc = vc;
window.harness = {
  hex, unhex, outcome, outcomes, derivation, envelope, keyWrapping, chain, recovery, tamper,
  createAccount, openAccount, storeUserKey, loadUserKey,
};
window.harnessReady = true;
