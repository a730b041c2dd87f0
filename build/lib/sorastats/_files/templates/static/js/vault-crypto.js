/**
 * vault-crypto.js: the browser side of SoraStats' end-to-end encrypted prompts vault.
 *
 * WebCrypto only, no dependencies. The scheme is specified in docs/encryption.md; Python's
 * tests/support/vault_crypto.py implements the same scheme and both reproduce the golden
 * vectors in tests/fixtures/vault_vectors.json.
 *
 *   master   = PBKDF2-HMAC-SHA256(NFC(password), salt (16 bytes), iterations) -> 32 bytes
 *   authKey  = HKDF-SHA256(master, salt "", info "sorastats/auth")  sent to the server
 *   kek      = HKDF-SHA256(master, salt "", info "sorastats/kek")   kept, wraps the user key
 *   envelope = "pv1." b64url(96-bit IV) "." b64url(AES-256-GCM ciphertext || 128-bit tag)
 *
 * Every key returned is a non-extractable AES-GCM CryptoKey, so it can be kept in
 * IndexedDB ("stay unlocked on this device") without its bytes ever being readable.
 * Every failure throws a VaultCryptoError whose `code` says what kind of failure it is.
 */

const encoder = new TextEncoder();
const strictDecoder = new TextDecoder("utf-8", { fatal: true });

export const ENVELOPE_PREFIX = "pv1";
export const KDF_NAME = "pbkdf2-sha256";
export const DEFAULT_ITERATIONS = 600000;
/** Fewer iterations offered by a server (e.g. a hostile one) are refused at sign-in. */
export const MIN_ITERATIONS = 100000;
/** More would freeze the tab; also refused. */
export const MAX_ITERATIONS = 10000000;
export const SALT_BYTES = 16;
export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
export const FIELDS = Object.freeze(["title", "body", "notes"]);
export const RECOVERY_ITERATIONS = 600000;
export const RECOVERY_CODE_BYTES = 20;
const RECOVERY_SALT = encoder.encode("sorastats/recovery");
// Crockford's base32: no I, L, O, U, so a code copied by hand stays unambiguous.
const RECOVERY_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const RECOVERY_ALIASES = { O: "0", I: "1", L: "1" };
const B64URL = /^[A-Za-z0-9_-]*$/;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/**
 * code: "unavailable" (no WebCrypto: not a secure context), "argument" (a bad parameter),
 * "encoding" (bad base64url), "envelope" (malformed envelope), "decrypt" (wrong key, or the
 * ciphertext was altered or moved to another place), "recovery-code" (cannot be a code).
 */
export class VaultCryptoError extends Error {
  constructor(code, message) {
    super(message);
    this.name = "VaultCryptoError";
    this.code = code;
  }
}

function fail(code, message) {
  throw new VaultCryptoError(code, message);
}

function subtle() {
  const s = globalThis.crypto && globalThis.crypto.subtle;
  if (!s) fail("unavailable", "WebCrypto is unavailable: serve the page over HTTPS or localhost");
  return s;
}

function bytes(value, what) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  return fail("argument", `${what} must be a Uint8Array`);
}

function aesKey(key, what) {
  if (!(key instanceof CryptoKey) || key.algorithm.name !== "AES-GCM") {
    fail("argument", `${what} must be an AES-GCM CryptoKey`);
  }
  return key;
}

// A lone surrogate: half of a UTF-16 pair (for browsers without String#isWellFormed).
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function text(value, what) {
  // TextEncoder would silently turn a lone surrogate into U+FFFD: refuse, never alter.
  const wellFormed = (s) => (s.isWellFormed ? s.isWellFormed() : !LONE_SURROGATE.test(s));
  if (typeof value !== "string" || !wellFormed(value)) {
    fail("argument", `${what} must be a well-formed string`);
  }
  return value;
}

function checkId(what, value) {
  // Ids are joined with "|" into associated data: an id holding "|" could forge another's.
  if (typeof value !== "string" || !ID.test(value)) {
    fail("argument", `${what} must be 1-64 characters of A-Z a-z 0-9 - _`);
  }
  return value;
}

function checkIterations(iterations, min = 1) {
  if (!Number.isSafeInteger(iterations) || iterations < min || iterations > MAX_ITERATIONS) {
    fail("argument", `iterations must be an integer from ${min} to ${MAX_ITERATIONS}`);
  }
  return iterations;
}

/** Cryptographically random bytes. */
export function randomBytes(length) {
  return globalThis.crypto.getRandomValues(new Uint8Array(length));
}

/** base64url without padding (keys, salts and envelope parts travel like this). */
export function b64urlEncode(data) {
  const view = bytes(data, "data");
  let binary = "";
  for (let i = 0; i < view.length; i += 0x8000) {
    binary += String.fromCharCode(...view.subarray(i, i + 0x8000));
  }
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Strict inverse of b64urlEncode: one spelling per value, anything else is refused. */
export function b64urlDecode(encoded) {
  if (typeof encoded !== "string" || !B64URL.test(encoded)) {
    fail("encoding", "invalid base64url: only A-Z a-z 0-9 - _ and no padding");
  }
  if (encoded.length % 4 === 1) fail("encoding", "invalid base64url: impossible length");
  const padded = encoded.replace(/-/g, "+").replace(/_/g, "/");
  const binary = atob(padded + "=".repeat((4 - (encoded.length % 4)) % 4));
  const out = Uint8Array.from(binary, (c) => c.charCodeAt(0));
  if (b64urlEncode(out) !== encoded) {
    fail("encoding", "invalid base64url: non-canonical (unused bits set)");
  }
  return out;
}

// ---- associated data: rebuilt from ids at decrypt time, never stored ----

export function adUserKey(userId) {
  return `pv1|uk|u:${checkId("user id", userId)}`;
}

export function adItemKey(userId, promptId) {
  return `pv1|ik|u:${checkId("user id", userId)}|p:${checkId("prompt id", promptId)}`;
}

export function adField(userId, promptId, version, field) {
  if (!Number.isSafeInteger(version) || version < 1) {
    fail("argument", "version must be a positive integer");
  }
  if (!FIELDS.includes(field)) fail("argument", `field must be one of ${FIELDS.join(", ")}`);
  const user = checkId("user id", userId);
  const prompt = checkId("prompt id", promptId);
  return `pv1|ct|u:${user}|p:${prompt}|v:${version}|f:${field}`;
}

export function adTag(userId, tagId) {
  return `pv1|tag|u:${checkId("user id", userId)}|t:${checkId("tag id", tagId)}`;
}

// ---- key derivation ----

async function pbkdf2(secret, salt, iterations) {
  const s = subtle();
  const material = encoder.encode(secret.normalize("NFC"));
  const base = await s.importKey("raw", material, "PBKDF2", false, ["deriveBits"]);
  const params = { name: "PBKDF2", hash: "SHA-256", salt, iterations };
  return new Uint8Array(await s.deriveBits(params, base, 256));
}

/** master = PBKDF2-HMAC-SHA256(NFC(password), salt, iterations), 32 bytes. */
export async function deriveMaster(password, salt, iterations) {
  if (text(password, "password") === "") fail("argument", "password must not be empty");
  return pbkdf2(password, bytes(salt, "salt"), checkIterations(iterations));
}

function hkdfParams(info) {
  return { name: "HKDF", hash: "SHA-256", salt: new Uint8Array(0), info: encoder.encode(info) };
}

/** {authKey: 32 bytes to send, kek: non-extractable CryptoKey to keep} from a master key. */
export async function deriveKeysFromMaster(master) {
  const s = subtle();
  const raw = bytes(master, "master");
  if (raw.length !== KEY_BYTES) fail("argument", "master must be 32 bytes");
  const base = await s.importKey("raw", raw, "HKDF", false, ["deriveBits", "deriveKey"]);
  const authKey = new Uint8Array(await s.deriveBits(hkdfParams("sorastats/auth"), base, 256));
  const kek = await s.deriveKey(
    hkdfParams("sorastats/kek"),
    base,
    { name: "AES-GCM", length: 256 },
    false,
    ["encrypt", "decrypt"],
  );
  return { authKey, kek };
}

/** {authKey, kek} from a password and the account's 16-byte salt. */
export async function deriveKeys(password, salt, iterations) {
  if (bytes(salt, "salt").length !== SALT_BYTES) fail("argument", "salt must be 16 bytes");
  const master = await deriveMaster(password, salt, iterations);
  try {
    return await deriveKeysFromMaster(master);
  } finally {
    master.fill(0);
  }
}

/**
 * Sign-in: {authKey, kek} from a password and the server's `kdf` answer
 * ({name: "pbkdf2-sha256", iterations, salt: b64url}). Parameters weaker than
 * MIN_ITERATIONS are refused, so a hostile server cannot make a password cheap to guess.
 */
export async function deriveLoginKeys(password, kdf) {
  if (!kdf || typeof kdf !== "object" || kdf.name !== KDF_NAME) {
    fail("argument", `unsupported key derivation (expected ${KDF_NAME})`);
  }
  const salt = b64urlDecode(kdf.salt);
  return deriveKeys(password, salt, checkIterations(kdf.iterations, MIN_ITERATIONS));
}

/** A new password's {authKey, kek, kdf} with a fresh salt (registration, password change). */
export async function newPasswordKeys(password, iterations = DEFAULT_ITERATIONS) {
  checkIterations(iterations, MIN_ITERATIONS);
  const salt = randomBytes(SALT_BYTES);
  const { authKey, kek } = await deriveKeys(password, salt, iterations);
  return { authKey, kek, kdf: { name: KDF_NAME, iterations, salt: b64urlEncode(salt) } };
}

// ---- envelopes ----

/** {iv, sealed} of a well-formed envelope; throws "envelope" or "encoding" otherwise. */
export function parseEnvelope(envelope) {
  if (typeof envelope !== "string") fail("envelope", "envelope must be a string");
  const parts = envelope.split(".");
  if (parts.length !== 3) fail("envelope", "envelope must have 3 dot-separated parts");
  if (parts[0] !== ENVELOPE_PREFIX) {
    fail("envelope", `unknown envelope prefix "${parts[0].slice(0, 16)}" (expected "pv1")`);
  }
  const iv = b64urlDecode(parts[1]);
  if (iv.length !== IV_BYTES) fail("envelope", `IV must be 96 bits, got ${iv.length * 8}`);
  const sealed = b64urlDecode(parts[2]);
  if (sealed.length < TAG_BYTES) fail("envelope", "ciphertext shorter than the 128-bit tag");
  return { iv, sealed };
}

async function sealWithIv(key, iv, plaintext, associatedData) {
  aesKey(key, "key");
  if (bytes(iv, "iv").length !== IV_BYTES) fail("argument", "IV must be 96 bits");
  const params = {
    name: "AES-GCM",
    iv,
    additionalData: encoder.encode(text(associatedData, "associated data")),
    tagLength: 128,
  };
  const sealed = await subtle().encrypt(params, key, bytes(plaintext, "plaintext"));
  return `${ENVELOPE_PREFIX}.${b64urlEncode(iv)}.${b64urlEncode(sealed)}`;
}

/** Encrypt bytes into an envelope with a fresh random IV. */
export async function seal(key, plaintext, associatedData) {
  return sealWithIv(key, randomBytes(IV_BYTES), plaintext, associatedData);
}

/** Decrypt an envelope; the associated data must be the one it was sealed with. */
export async function openEnvelope(key, envelope, associatedData) {
  aesKey(key, "key");
  const { iv, sealed } = parseEnvelope(envelope);
  const ad = encoder.encode(text(associatedData, "associated data"));
  try {
    const params = { name: "AES-GCM", iv, additionalData: ad, tagLength: 128 };
    return new Uint8Array(await subtle().decrypt(params, key, sealed));
  } catch (error) {
    if (error instanceof DOMException && error.name === "OperationError") {
      fail("decrypt", "cannot decrypt: wrong key, or the data was altered or moved");
    }
    throw error;
  }
}

/** A 256-bit AES-GCM key from raw bytes (non-extractable unless asked). */
export async function importAesKey(raw, { extractable = false } = {}) {
  if (bytes(raw, "key").length !== KEY_BYTES) fail("argument", "key must be 32 bytes");
  return subtle().importKey("raw", raw, { name: "AES-GCM" }, extractable, ["encrypt", "decrypt"]);
}

async function openKey(wrappingKey, envelope, associatedData) {
  const raw = await openEnvelope(wrappingKey, envelope, associatedData);
  try {
    if (raw.length !== KEY_BYTES) fail("decrypt", "wrapped key is not 256 bits");
    return await importAesKey(raw);
  } finally {
    raw.fill(0);
  }
}

async function newKeyWrappedBy(wrappingKeys, associatedData) {
  const raw = randomBytes(KEY_BYTES);
  try {
    const wrapped = [];
    for (const wrappingKey of wrappingKeys) wrapped.push(await seal(wrappingKey, raw, associatedData));
    return { key: await importAesKey(raw), wrapped };
  } finally {
    raw.fill(0);
  }
}

// ---- user key: wrapped by the kek and, a second time, by the recovery kek ----

/** Registration: {userKey, wrappedUserKey, recoveryWrappedUserKey}. */
export async function createUserKey(userId, kek, recoveryKek) {
  aesKey(kek, "kek");
  aesKey(recoveryKek, "recovery kek");
  const { key, wrapped } = await newKeyWrappedBy([kek, recoveryKek], adUserKey(userId));
  return { userKey: key, wrappedUserKey: wrapped[0], recoveryWrappedUserKey: wrapped[1] };
}

/** The user key from `wrapped_user_key` (or `recovery_wrapped_user_key` with the recovery kek). */
export async function unwrapUserKey(kek, wrappedUserKey, userId) {
  return openKey(kek, wrappedUserKey, adUserKey(userId));
}

/**
 * The same user key wrapped by another kek, without ever making it extractable: password
 * change (old kek -> new kek), recovery (recovery kek -> new kek), new recovery code.
 */
export async function rewrapUserKey(fromKek, wrappedUserKey, userId, toKek) {
  aesKey(toKek, "new kek");
  const ad = adUserKey(userId);
  const raw = await openEnvelope(fromKek, wrappedUserKey, ad);
  try {
    if (raw.length !== KEY_BYTES) fail("decrypt", "wrapped key is not 256 bits");
    return await seal(toKek, raw, ad);
  } finally {
    raw.fill(0);
  }
}

// ---- item keys, fields, tag names ----

/** A new prompt's {itemKey, wrappedItemKey}. */
export async function createItemKey(userKey, { userId, promptId }) {
  aesKey(userKey, "user key");
  const { key, wrapped } = await newKeyWrappedBy([userKey], adItemKey(userId, promptId));
  return { itemKey: key, wrappedItemKey: wrapped[0] };
}

export async function unwrapItemKey(userKey, wrappedItemKey, { userId, promptId }) {
  return openKey(userKey, wrappedItemKey, adItemKey(userId, promptId));
}

/** One field (title, body or notes) of one version of one prompt. */
export async function encryptField(itemKey, { userId, promptId, version, field }, value) {
  const ad = adField(userId, promptId, version, field);
  return seal(itemKey, encoder.encode(text(value, field)), ad);
}

export async function decryptField(itemKey, envelope, { userId, promptId, version, field }) {
  const ad = adField(userId, promptId, version, field);
  return decodeUtf8(await openEnvelope(itemKey, envelope, ad));
}

export async function encryptTagName(userKey, { userId, tagId }, name) {
  return seal(userKey, encoder.encode(text(name, "tag name")), adTag(userId, tagId));
}

export async function decryptTagName(userKey, envelope, { userId, tagId }) {
  return decodeUtf8(await openEnvelope(userKey, envelope, adTag(userId, tagId)));
}

function decodeUtf8(data) {
  try {
    return strictDecoder.decode(data);
  } catch {
    return fail("decrypt", "decrypted data is not UTF-8 text");
  }
}

// ---- recovery code ----

/** The human form of 160 bits: 8 groups of 4 Crockford base32 characters. */
export function recoveryCodeFromBytes(raw) {
  if (bytes(raw, "code bytes").length !== RECOVERY_CODE_BYTES) {
    fail("argument", "a recovery code holds exactly 160 bits");
  }
  let number = 0n;
  for (const byte of raw) number = (number << 8n) | BigInt(byte);
  let chars = "";
  for (let shift = 155n; shift >= 0n; shift -= 5n) {
    chars += RECOVERY_ALPHABET[Number((number >> shift) & 31n)];
  }
  return chars.match(/.{4}/g).join("-");
}

/** A new random recovery code, to be shown once. */
export function newRecoveryCode() {
  return recoveryCodeFromBytes(randomBytes(RECOVERY_CODE_BYTES));
}

/** The 32 canonical characters of a code as typed: any case, spaces/hyphens, O=0, I=L=1. */
export function normalizeRecoveryCode(input) {
  if (typeof input !== "string") fail("recovery-code", "a recovery code is text");
  const chars = [...input.replace(/[\s-]/g, "").toUpperCase()].map(
    (c) => RECOVERY_ALIASES[c] || c,
  );
  const bad = [...new Set(chars.filter((c) => !RECOVERY_ALPHABET.includes(c)))].sort();
  if (bad.length) fail("recovery-code", `a recovery code has no ${bad.map((c) => `"${c}"`).join(", ")}`);
  if (chars.length !== 32) {
    fail("recovery-code", `a recovery code has 32 characters, got ${chars.length}`);
  }
  return chars.join("");
}

/** The recovery code's master key: PBKDF2 with the fixed salt "sorastats/recovery". */
export async function deriveRecoveryMaster(code, iterations = RECOVERY_ITERATIONS) {
  return pbkdf2(normalizeRecoveryCode(code), RECOVERY_SALT, checkIterations(iterations));
}

/** {authKey (proof of the code, sent), kek (unwraps recovery_wrapped_user_key)}. */
export async function deriveRecoveryKeys(code, iterations = RECOVERY_ITERATIONS) {
  const master = await deriveRecoveryMaster(code, iterations);
  try {
    return await deriveKeysFromMaster(master);
  } finally {
    master.fill(0);
  }
}

/**
 * Registration in one call: {authKey, kdf, recoveryCode, recoveryAuthKey, wrappedUserKey,
 * recoveryWrappedUserKey, userKey, kek}. Show recoveryCode once; send the rest but keys.
 */
export async function createAccountKeys(password, userId, iterations = DEFAULT_ITERATIONS) {
  checkId("user id", userId);
  const { authKey, kek, kdf } = await newPasswordKeys(password, iterations);
  const recoveryCode = newRecoveryCode();
  const recovery = await deriveRecoveryKeys(recoveryCode);
  const created = await createUserKey(userId, kek, recovery.kek);
  return { authKey, kdf, recoveryCode, recoveryAuthKey: recovery.authKey, kek, ...created };
}

/**
 * Golden-vector tests only: encryption with a chosen IV and the raw HKDF output. Reusing
 * an IV with the same key destroys AES-GCM's security; application code never uses this.
 */
export const testing = Object.freeze({
  sealWithIv,
  async hkdfBytes(master, info) {
    const base = await subtle().importKey("raw", bytes(master, "master"), "HKDF", false, [
      "deriveBits",
    ]);
    return new Uint8Array(await subtle().deriveBits(hkdfParams(info), base, 256));
  },
});
