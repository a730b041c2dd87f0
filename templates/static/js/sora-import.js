/**
 * sora-import.js: reads Sora backups in the browser and finds the prompts in them, for
 * /vault/import/. Pure functions (no DOM, no network): files in, prompt records out.
 *
 * Formats, detected per file (docs/vault.md, "Importing a Sora backup"):
 *   - "soravault": SoraVault archive manifest `{items: [{source, mode, genId, taskId,
 *     postId, date, prompt, width, height, ratio, duration, ..., isLiked, _raw: {post,
 *     profile}, replies}]}`.
 *   - "creator-tools": sora-creator-tools harvest records `{id, kind: "published"|"draft",
 *     prompt, prompt_source, title, generation_id, width, height, duration_s, created_at,
 *     posted_at, post_permalink, post_visibility, ...}`, as JSONL or a JSON array.
 *   - "sora-api": plain captures of the Sora backend: feed or profile pages `{items:
 *     [{post, profile}]}`, a post tree `{post, profile, children}`, draft listings
 *     `{items: [{id, prompt | creation_config.prompt, ...}]}`, or one such object a line.
 *   - A ZIP of any of these (stored or deflated; read with DecompressionStream).
 * A file of another shape gets a message naming these; a broken JSONL line is skipped and
 * counted, never fatal.
 *
 * A record: {source, kind: "draft"|"published", file, prompt, caption, title,
 * generationId, postId, date (ISO 8601 or ""), width, height, duration}. Someone else's
 * post, a comment, or a record without prompt text is not a record: it is counted in
 * `skipped` with the reason.
 */

export const FORMATS = Object.freeze({
  soravault: "SoraVault archive",
  "creator-tools": "sora-creator-tools records",
  "sora-api": "Sora API capture",
});
export const SUPPORTED =
  "a SoraVault archive (manifest.json), sora-creator-tools records (JSON or JSONL), " +
  "a Sora API capture (JSON or JSONL), or a ZIP of these";
// The vault's limits on plaintext (api/vault/rules.py FIELD_LIMITS), in UTF-8 bytes.
export const BODY_BYTES = 30000;
export const TITLE_CHARS = 200;
export const NOTES_BYTES = 30000;
const MAX_FILE_BYTES = 512 * 1024 * 1024;
const POST_ID = /^[A-Za-z0-9_-]{1,64}$/;
const utf8 = new TextEncoder();

export class ImportError extends Error {}

// --- reading files and ZIP archives ---------------------------------------------------

/** Every JSON or JSONL document in `file` (a File or Blob with a name): [{name, text}]. */
export async function documentsOf(file) {
  if (file.size > MAX_FILE_BYTES) throw new ImportError(`${file.name}: larger than 512 MB.`);
  const bytes = new Uint8Array(await file.arrayBuffer());
  if (isZip(bytes)) return readZip(bytes, file.name);
  return [{ name: file.name, text: decodeText(bytes) }];
}

function decodeText(bytes) {
  // A byte-order mark is not JSON; invalid UTF-8 becomes U+FFFD and fails to parse.
  const text = new TextDecoder("utf-8").decode(bytes);
  return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
}

export function isZip(bytes) {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 3 && bytes[3] === 4;
}

/** The .json and .jsonl entries of a ZIP archive (stored or deflated), in archive order. */
export async function readZip(bytes, zipName = "archive.zip") {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bad = (why) => new ImportError(`${zipName}: not a readable ZIP archive (${why}).`);
  // The end-of-central-directory record sits in the last 22 + 65535 bytes.
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) throw bad("no central directory");
  const count = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (count === 0xffff || at === 0xffffffff) throw bad("ZIP64 is not supported");
  const documents = [];
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) throw bad("broken directory");
    const flags = view.getUint16(at + 8, true);
    const method = view.getUint16(at + 10, true);
    const size = view.getUint32(at + 20, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    const local = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + nameLength + extraLength + commentLength;
    if (name.endsWith("/") || name.startsWith("__MACOSX/") || !/\.jsonl?$/i.test(name)) continue;
    if (flags & 1) throw bad(`${name} is encrypted`);
    if (local + 30 > bytes.length || view.getUint32(local, true) !== 0x04034b50) throw bad("broken entry");
    const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
    const data = bytes.subarray(start, start + size);
    if (data.length !== size) throw bad(`${name} is cut short`);
    let raw;
    if (method === 0) raw = data;
    else if (method === 8) raw = await inflate(data).catch(() => { throw bad(`${name} is damaged`); });
    else throw bad(`${name} uses compression method ${method}`);
    documents.push({ name: `${zipName}/${name}`, text: decodeText(raw) });
  }
  return documents;
}

async function inflate(data) {
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// --- detection --------------------------------------------------------------------------

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function isCreatorRecord(v) {
  return isObject(v) && (v.kind === "published" || v.kind === "draft") && ("prompt" in v || "generation_id" in v);
}

function isVaultItem(v) {
  return isObject(v) && ("genId" in v || "_raw" in v || ("taskId" in v && "prompt" in v));
}

function isSoraDocument(v) {
  if (!isObject(v)) return false;
  if (isObject(v.post)) return true; // a {post, profile} wrapper or a post tree
  if (typeof v.id === "string" && Array.isArray(v.attachments)) return true; // a bare post
  if ("creation_config" in v || (typeof v.id === "string" && /^gen_/.test(v.id))) return true; // a draft
  return Array.isArray(v.items) && v.items.length > 0 && v.items.every(isSoraDocument);
}

/** The format of one parsed JSON value, or null. */
export function detect(value) {
  if (isObject(value) && Array.isArray(value.items) && value.items.some(isVaultItem)) return "soravault";
  if (Array.isArray(value) && value.length > 0 && value.every(isCreatorRecord)) return "creator-tools";
  if (isCreatorRecord(value)) return "creator-tools";
  if (isSoraDocument(value) || (Array.isArray(value) && value.length > 0 && value.every(isSoraDocument))) {
    return "sora-api";
  }
  return null;
}

// --- extraction -------------------------------------------------------------------------

/** Everything found in one document: {file, format, records, skipped: {reason: n},
 * brokenLines, error}. `error` (a sentence) when the format is unknown. */
export function extract(name, text) {
  const found = { file: name, format: null, records: [], skipped: {}, brokenLines: 0, error: null };
  const skip = (reason) => (found.skipped[reason] = (found.skipped[reason] || 0) + 1);
  const add = (record) => {
    const kept = finish(record, name);
    if (typeof kept === "string") skip(kept);
    else found.records.push(kept);
  };
  let whole;
  try {
    whole = JSON.parse(text);
  } catch {
    whole = undefined;
  }
  const values = whole === undefined ? jsonLines(text, found) : [whole];
  for (const value of values) {
    const format = detect(value);
    if (format === null) {
      if (whole === undefined) skip("a line of an unknown shape");
      continue;
    }
    found.format = found.format || format;
    if (format === "soravault") value.items.forEach((item) => fromVault(item, add, skip));
    else if (format === "creator-tools") (Array.isArray(value) ? value : [value]).forEach((r) => fromCreatorTools(r, add, skip));
    else fromSora(value, add, skip);
  }
  if (found.format === null) {
    found.skipped = {};
    found.error = `${name}: not a format this page reads. Supported: ${SUPPORTED}.`;
  }
  return found;
}

function jsonLines(text, found) {
  const values = [];
  for (const line of text.split(/\r?\n/)) {
    if (!line.trim()) continue;
    try {
      values.push(JSON.parse(line));
    } catch {
      found.brokenLines += 1;
    }
  }
  return values;
}

const str = (v) => (typeof v === "string" ? v : "");
const num = (v) => (typeof v === "number" && Number.isFinite(v) && v > 0 ? v : null);

function isoDate(value) {
  if (typeof value === "number" && Number.isFinite(value) && value > 0) {
    return new Date(value < 1e12 ? value * 1000 : value).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  if (typeof value === "string" && value.trim()) {
    const parsed = Date.parse(value);
    return Number.isNaN(parsed) ? "" : new Date(parsed).toISOString().replace(/\.\d{3}Z$/, "Z");
  }
  return "";
}

function postIdFrom(...candidates) {
  for (const candidate of candidates) {
    const text = str(candidate);
    const fromLink = text.match(/\/p\/([A-Za-z0-9_-]{1,64})/);
    const id = fromLink ? fromLink[1] : text;
    if (POST_ID.test(id)) return id;
  }
  return "";
}

function fromVault(item, add, skip) {
  if (!isObject(item)) return skip("an entry that is not an object");
  const raw = isObject(item._raw) ? item._raw : {};
  const post = isObject(raw.post) ? raw.post : {};
  if (/like/i.test(str(item.source)) || post.is_owner === false) return skip("someone else's post");
  const postId = postIdFrom(item.postId, post.id);
  add({
    source: "soravault",
    kind: postId ? "published" : "draft",
    prompt: str(item.prompt),
    caption: str(post.text) || str(post.caption),
    title: str(item.title),
    generationId: str(item.genId) || str(attachmentOf(post).generation_id),
    postId,
    date: isoDate(item.date) || isoDate(post.posted_at),
    width: num(item.width),
    height: num(item.height),
    duration: num(item.duration),
  });
}

function fromCreatorTools(r, add, skip) {
  if (!isObject(r)) return skip("an entry that is not an object");
  const published = r.kind === "published";
  const postId = published ? postIdFrom(r.post_id, r.post_permalink, /^s_/.test(str(r.id)) ? r.id : "") : "";
  add({
    source: "creator-tools",
    kind: published ? "published" : "draft",
    prompt: str(r.prompt),
    caption: str(r.caption) || str(r.text),
    title: str(r.title),
    generationId: str(r.generation_id) || (/^gen_/.test(str(r.id)) ? r.id : ""),
    postId,
    date: isoDate(r.posted_at) || isoDate(r.created_at),
    width: num(r.width),
    height: num(r.height),
    duration: num(r.duration_s),
  });
}

function attachmentOf(post) {
  return Array.isArray(post.attachments) && isObject(post.attachments[0]) ? post.attachments[0] : {};
}

function configPrompt(v) {
  return isObject(v) && isObject(v.creation_config) ? str(v.creation_config.prompt) : "";
}

function fromSora(value, add, skip) {
  if (Array.isArray(value)) return value.forEach((v) => fromSora(v, add, skip));
  if (!isObject(value)) return skip("an entry that is not an object");
  if (isObject(value.post)) return fromSoraPost(value.post, add, skip); // children are others' comments
  if (typeof value.id === "string" && Array.isArray(value.attachments)) return fromSoraPost(value, add, skip);
  if (Array.isArray(value.items)) return value.items.forEach((v) => fromSora(v, add, skip));
  fromSoraDraft(value, add);
}

function fromSoraPost(post, add, skip) {
  const id = str(post.id);
  if (!id.startsWith("s_")) return skip("a comment, not a video");
  if (post.is_owner === false) return skip("someone else's post");
  const a = attachmentOf(post);
  const frames = num(a.n_frames);
  add({
    source: "sora-api",
    kind: "published",
    prompt: str(a.prompt) || configPrompt(a) || configPrompt(post),
    caption: str(post.text) || str(post.caption),
    title: str(a.title),
    generationId: str(a.generation_id),
    postId: postIdFrom(id),
    date: isoDate(post.posted_at),
    width: num(a.width),
    height: num(a.height),
    duration: num(a.duration_s) || (frames ? Math.round(frames / 3) / 10 : null),
  });
}

function fromSoraDraft(d, add) {
  const frames = num(d.n_frames);
  add({
    source: "sora-api",
    kind: "draft",
    prompt: str(d.prompt) || configPrompt(d),
    caption: "",
    title: str(d.title),
    generationId: str(d.generation_id) || (/^gen_/.test(str(d.id)) ? d.id : ""),
    postId: "",
    date: isoDate(d.created_at),
    width: num(d.width),
    height: num(d.height),
    duration: num(d.duration_s) || (frames ? Math.round(frames / 3) / 10 : null),
  });
}

/** A complete record, or the reason it cannot become a vault prompt. A post without a
 * generation prompt keeps its caption as the prompt (that is what was shown). */
function finish(record, file) {
  let prompt = record.prompt.trim();
  let caption = record.caption.trim();
  if (!prompt && caption) [prompt, caption] = [caption, ""];
  if (!prompt) return "no prompt text";
  if (utf8.encode(prompt).length > BODY_BYTES) return `a prompt longer than ${BODY_BYTES.toLocaleString("en")} bytes`;
  return { ...record, file, prompt, caption: caption === prompt ? "" : caption, title: record.title.trim() };
}

// --- what becomes a vault prompt --------------------------------------------------------

const LABELS = { draft: "Sora draft", published: "Sora post" };

export function vaultTitle(record) {
  const title = record.title || `${LABELS[record.kind]}${record.date ? ` · ${record.date.slice(0, 10)}` : ""}`;
  return title.length > TITLE_CHARS ? `${title.slice(0, TITLE_CHARS - 1)}…` : title;
}

/** The notes of an imported prompt: where it came from, one fact a line. The
 * "Generation:" and "Post:" lines are how a later import recognises it. */
export function vaultNotes(record) {
  const size = record.width && record.height ? `${record.width}×${record.height}` : "";
  const length = record.duration ? `${record.duration} s` : "";
  const lines = [
    `Imported from Sora (${FORMATS[record.source]}, ${record.kind})`,
    record.date && `Date: ${record.date}`,
    record.generationId && `Generation: ${record.generationId}`,
    record.postId && `Post: ${record.postId}`,
    (size || length) && `Video: ${[size, length].filter(Boolean).join(" · ")}`,
  ].filter(Boolean);
  let notes = lines.join("\n");
  if (record.caption) {
    const room = NOTES_BYTES - utf8.encode(notes).length - 64;
    let caption = record.caption;
    while (utf8.encode(caption).length > room) caption = caption.slice(0, Math.floor(caption.length * 0.9));
    notes += `\nCaption as posted: ${caption}`;
  }
  return notes;
}

export function vaultFields(record) {
  return { title: vaultTitle(record), body: record.prompt, notes: vaultNotes(record) };
}

/** The generation and post ids written in an imported prompt's notes. */
export function idsInNotes(notes) {
  const generation = /^Generation: (\S+)$/m.exec(notes || "");
  const post = /^Post: (\S+)$/m.exec(notes || "");
  return { generationId: generation ? generation[1] : "", postId: post ? post[1] : "" };
}

export function textKey(text) {
  return str(text).trim().replace(/\s+/g, " ").toLowerCase();
}

/** A short fingerprint of a prompt's text (53 bits of cyrb53 and the length), so the
 * page can hold what the vault's texts are without holding the texts. Two different texts
 * sharing it (about one chance in 10^8 for two vaults of 10,000) would make one be taken
 * for the other and not imported. */
export function textHash(text) {
  const key = textKey(text);
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return `${key.length}:${(4294967296 * (2097151 & h2) + (h1 >>> 0)).toString(36)}`;
}

/** What `plan` needs of the vault, small enough to keep: the generation and post ids
 * (from the notes and `post_id`) and the fingerprints of the bodies. `existing`:
 * [{postId, notes, body}] of decrypted prompts; `body` undefined when not decrypted.
 * Answers {generations, posts, texts}: arrays, so a worker can send them. */
export function indexOf(existing) {
  const index = { generations: [], posts: [], texts: [] };
  for (const item of existing) {
    const ids = idsInNotes(item.notes);
    if (ids.generationId) index.generations.push(ids.generationId);
    if (ids.postId) index.posts.push(ids.postId);
    if (item.postId) index.posts.push(item.postId);
    if (item.body !== undefined) index.texts.push(textHash(item.body));
  }
  return index;
}

/** Sort `records` against what the vault holds: `vault` is an index (`indexOf`, or
 * several merged) or the decrypted prompts themselves. Matched by generation id or post
 * id first, then by the text. Answers {fresh, inVault, repeated} (repeated: the same
 * prompt twice in the files, such as two generations of one prompt: the vault keeps the
 * text once). */
export function plan(records, vault) {
  const index = Array.isArray(vault) ? indexOf(vault) : vault;
  const generations = new Set(index.generations);
  const posts = new Set(index.posts);
  const texts = new Set(index.texts);
  const seen = { generations: new Set(), posts: new Set(), texts: new Set() };
  const result = { fresh: [], inVault: [], repeated: [] };
  for (const record of records) {
    const text = textHash(record.prompt);
    const known =
      (record.generationId && generations.has(record.generationId)) ||
      (record.postId && posts.has(record.postId)) ||
      texts.has(text);
    const twice =
      (record.generationId && seen.generations.has(record.generationId)) ||
      (record.postId && seen.posts.has(record.postId)) ||
      seen.texts.has(text);
    if (known) result.inVault.push(record);
    else if (twice) result.repeated.push(record);
    else result.fresh.push(record);
    if (record.generationId) seen.generations.add(record.generationId);
    if (record.postId) seen.posts.add(record.postId);
    seen.texts.add(text);
  }
  return result;
}

/** Counts per source and kind: {"soravault/draft": n, ...}. */
export function countBy(records) {
  const counts = {};
  for (const r of records) counts[`${r.source}/${r.kind}`] = (counts[`${r.source}/${r.kind}`] || 0) + 1;
  return counts;
}
