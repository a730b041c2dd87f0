// /vault/import/: a Sora backup into the vault. The files are read here (sora-import.js);
// each prompt is encrypted here and sent in batches to POST /api/prompts/bulk, so neither
// the file nor any prompt text leaves the browser in clear. What the vault already holds
// is recognised (generation id, post id, then text), which makes a second import of the
// same files add nothing and lets an interrupted import resume after a reload.
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe, openVault } = await import(root.dataset.session);
const si = await import(root.dataset.import);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);
// Both keys are rows of sorastats/browser_storage.py; vault-session.js drops them at sign-out.
const RUN_KEY = "sorastats.import.run"; // {userId, total, done}: counts, no names, no text
const POOL_KEY = "sorastats.import.ids"; // {userId, ids: [{id, expires}]}: reserved, unused
const state = { records: [], plan: null, problems: [], limits: null, running: false, cancel: false };
const SOURCE_ORDER = Object.keys(si.FORMATS);

function show(view) {
  for (const name of ["vault-signin", "vault-unlock", "import-main"]) $(name).hidden = name !== view;
}

const store = {
  get(key) {
    try {
      const value = JSON.parse(localStorage.getItem(key) || "null");
      return value && value.userId === session.user.id ? value : null;
    } catch {
      return null;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify({ ...value, userId: session.user.id }));
    } catch {
      // Private mode or a full disk: resuming still works, from what the vault holds.
    }
  },
  drop(key) {
    try {
      localStorage.removeItem(key);
    } catch {
      // Nothing to do.
    }
  },
};

const ids = (promptId, version = 1) => ({ userId: session.user.id, promptId, version });

// --- what the vault holds -----------------------------------------------------------------

async function openExisting(row, fields) {
  const itemKey = await vc.unwrapItemKey(session.userKey, row.wrapped_item_key, ids(row.id));
  const open = (field) =>
    vc.decryptField(itemKey, row.latest.fields[field], { ...ids(row.id, row.latest.version), field });
  const [notes, body] = await Promise.all(fields.map(open));
  return { postId: row.post_id, notes, body: body || "" };
}

async function inParallel(items, work, width = 256) {
  const out = new Array(items.length);
  for (let start = 0; start < items.length; start += width) {
    const part = items.slice(start, start + width);
    const done = await Promise.all(part.map(work));
    for (let i = 0; i < done.length; i++) out[start + i] = done[i];
  }
  return out;
}

/** The vault as `plan` needs it. Notes (with the generation and post ids) first; the
 * bodies only when some record is not matched by an id, since they are needed only to
 * match by text (a second import of the same files never needs them: half the work). */
async function planAgainstVault(records) {
  const rows = (await session.api("GET", "/api/prompts")).prompts;
  let plan = si.plan(records, await inParallel(rows, (row) => openExisting(row, ["notes"])));
  if (plan.fresh.length && rows.length) {
    plan = si.plan(records, await inParallel(rows, (row) => openExisting(row, ["notes", "body"])));
  }
  return plan;
}

/** Your tags by decrypted name. */
async function vaultTags() {
  const tags = new Map();
  for (const tag of (await session.api("GET", "/api/tags")).tags) {
    const name = await vc.decryptTagName(session.userKey, tag.name, { userId: session.user.id, tagId: tag.id });
    tags.set(name, tag.id);
  }
  return tags;
}

// --- reading the files --------------------------------------------------------------------

async function readFiles(files) {
  say($("pick-status"), `Reading ${files.length} file${files.length === 1 ? "" : "s"}…`);
  const records = [];
  const problems = [];
  const skipped = {};
  let broken = 0;
  for (const file of files) {
    let documents;
    try {
      documents = await si.documentsOf(file);
    } catch (error) {
      problems.push(error instanceof si.ImportError ? error.message : `${file.name}: could not be read (${describe(error)}).`);
      continue;
    }
    if (documents.length === 0) problems.push(`${file.name}: no JSON or JSONL file inside.`);
    for (const doc of documents) {
      const found = si.extract(doc.name, doc.text);
      if (found.error) problems.push(found.error);
      records.push(...found.records);
      broken += found.brokenLines;
      for (const [reason, count] of Object.entries(found.skipped)) skipped[reason] = (skipped[reason] || 0) + count;
    }
  }
  for (const [reason, count] of Object.entries(skipped)) problems.push(`${count} skipped: ${reason}.`);
  if (broken) problems.push(`${broken} broken line${broken === 1 ? "" : "s"} skipped (not valid JSON).`);
  return { records, problems };
}

async function preview(files) {
  if (state.running) return;
  const { records, problems } = await readFiles(files);
  say($("pick-status"), "Comparing with your vault…");
  state.plan = await planAgainstVault(records);
  state.records = records;
  state.problems = problems;
  renderPreview();
  say($("pick-status"), `Found ${records.length} prompt${records.length === 1 ? "" : "s"} in ${files.length} file${files.length === 1 ? "" : "s"}.`);
  $("import-preview").hidden = false;
  $("preview-heading").focus();
}

function renderPreview() {
  const { plan } = state;
  const counts = {
    found: si.countBy(state.records),
    inVault: si.countBy(plan.inVault),
    repeated: si.countBy(plan.repeated),
    fresh: si.countBy(plan.fresh),
  };
  const keys = Object.keys(counts.found).sort(
    (a, b) => SOURCE_ORDER.indexOf(a.split("/")[0]) - SOURCE_ORDER.indexOf(b.split("/")[0]) || a.localeCompare(b),
  );
  const rows = keys.map((key) => {
    const [source, kind] = key.split("/");
    const cells = ["found", "inVault", "repeated", "fresh"].map((c) => el("td", { text: String(counts[c][key] || 0) }));
    return el("tr", { "data-key": key }, el("td", { text: si.FORMATS[source] }), el("td", { text: kind }), ...cells);
  });
  if (rows.length === 0) rows.push(el("tr", {}, el("td", { colspan: "6", text: "No prompts found." })));
  $("preview-table").tBodies[0].replaceChildren(...rows);
  const problems = state.problems.length ? state.problems : ["Nothing: every entry was read."];
  $("preview-problems").replaceChildren(...problems.map((p) => el("li", { text: p })));
  updateStartButton();
}

function chosen() {
  const kinds = new FormData($("import-form")).get("kinds");
  return state.plan ? state.plan.fresh.filter((r) => kinds === "all" || r.kind === kinds) : [];
}

function updateStartButton() {
  const n = chosen().length;
  $("import-start").textContent = `Import ${n} prompt${n === 1 ? "" : "s"}`;
  $("import-start").disabled = n === 0 || state.running;
}

// --- importing ----------------------------------------------------------------------------

async function tagIds(text) {
  const names = [...new Set(text.split(",").map((t) => t.trim()).filter(Boolean))];
  if (names.length === 0) return [];
  const tags = await vaultTags();
  const out = [];
  for (const name of names) {
    if (tags.has(name)) {
      out.push(tags.get(name));
      continue;
    }
    const [tagId] = (await session.api("POST", "/api/vault/ids", { kind: "tag" })).ids;
    const envelope = await vc.encryptTagName(session.userKey, { userId: session.user.id, tagId }, name);
    await session.api("POST", "/api/tags", { id: tagId, name: envelope });
    out.push(tagId);
  }
  return out;
}

/** `count` reserved prompt ids: unused ones kept from an earlier (cancelled) run first. */
// The pool lives in localStorage so that ids reserved by a cancelled or interrupted run
// are used by the next one (the server allows 200 unused ids per account); `claimed`
// holds the ids this tab has handed out and not yet seen created.
const claimed = new Set();

function pooled() {
  const now = Date.now() / 1000;
  return ((store.get(POOL_KEY) || {}).ids || []).filter((entry) => entry.expires > now + 600);
}

async function takeIds(count) {
  let free = pooled().filter((entry) => !claimed.has(entry.id));
  while (free.length < count) {
    const want = Math.min(state.limits.bulk, count - free.length);
    const answer = await session.api("POST", "/api/vault/ids", { kind: "prompt", count: want });
    const fresh = answer.ids.map((id) => ({ id, expires: answer.expires_at }));
    store.set(POOL_KEY, { ids: [...pooled(), ...fresh] });
    free = [...free, ...fresh];
  }
  const taken = free.slice(0, count).map((entry) => entry.id);
  for (const id of taken) claimed.add(id);
  return taken;
}

function releaseIds(used) {
  const gone = new Set(used);
  for (const id of used) claimed.delete(id);
  store.set(POOL_KEY, { ids: pooled().filter((entry) => !gone.has(entry.id)) });
}

async function encryptRecord(record, promptId) {
  const { itemKey, wrappedItemKey } = await vc.createItemKey(session.userKey, ids(promptId));
  const plain = si.vaultFields(record);
  const [title, body, notes] = await Promise.all(
    ["title", "body", "notes"].map((field) => vc.encryptField(itemKey, { ...ids(promptId), field }, plain[field])),
  );
  const item = { id: promptId, wrapped_item_key: wrappedItemKey, fields: { title, body, notes } };
  if (record.postId) item.post_id = record.postId;
  return item;
}

async function encryptChunk(records) {
  const promptIds = await takeIds(records.length);
  return Promise.all(records.map((r, i) => encryptRecord(r, promptIds[i])));
}

/** Requests of at most `bulk` prompts whose JSON fits the server's body limit. */
function requests(items, tagList) {
  const room = state.limits.body_bytes - 2048 - 40 * tagList.length;
  const out = [];
  let current = [];
  let size = 0;
  for (const item of items) {
    const bytes = JSON.stringify(item).length + 1; // ASCII only: base64url and ids
    if (current.length && (size + bytes > room || current.length >= state.limits.bulk)) {
      out.push(current);
      current = [];
      size = 0;
    }
    current.push(item);
    size += bytes;
  }
  if (current.length) out.push(current);
  return out;
}

function progress(done, total, note = "") {
  $("import-progress").max = Math.max(total, 1);
  $("import-progress").value = done;
  say($("import-status"), `${done} of ${total} imported${note}`);
}

async function runImport(event) {
  event.preventDefault();
  if (state.running) return;
  const records = chosen();
  if (records.length === 0) return;
  state.running = true;
  state.cancel = false;
  updateStartButton();
  $("import-run").hidden = false;
  $("import-cancel").hidden = false;
  $("import-open-vault").hidden = true;
  let done = 0;
  const run = { total: records.length, done: 0 };
  store.set(RUN_KEY, run);
  try {
    const tagList = await tagIds($("import-tags").value);
    progress(0, records.length);
    // One chunk is sent while the next is encrypted; both hold reserved ids, and an
    // account may hold at most `bulk` (200) unused ids, so a chunk is half of that.
    const CHUNK = Math.max(1, Math.floor(state.limits.bulk / 2));
    let next = encryptChunk(records.slice(0, CHUNK));
    for (let start = 0; start < records.length; start += CHUNK) {
      const items = await next;
      // Encrypt the next chunk while this one is being sent.
      next = start + CHUNK < records.length ? encryptChunk(records.slice(start + CHUNK, start + 2 * CHUNK)) : null;
      if (next) next.catch(() => {}); // awaited on the next turn; an early failure is not unhandled
      for (const batch of requests(items, tagList)) {
        if (state.cancel) break;
        const body = { prompts: batch };
        if (tagList.length) body.tag_ids = tagList;
        await session.api("POST", "/api/prompts/bulk", body);
        releaseIds(batch.map((item) => item.id));
        done += batch.length;
        store.set(RUN_KEY, { ...run, done });
        progress(done, records.length);
      }
      if (state.cancel) break;
    }
    if (state.cancel) {
      progress(done, records.length, `: cancelled. Choose the same files again to import the other ${records.length - done}; nothing is added twice.`);
    } else {
      store.drop(RUN_KEY);
      progress(done, records.length, ". Done.");
      document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_import" })); // usage metrics
      $("import-open-vault").hidden = false;
    }
  } catch (error) {
    const why = error.code === "tier_limit" || error.code === "limit_reached" ? error.message : describe(error);
    progress(done, records.length, `; stopped: ${why} Import the same files again to go on; nothing is added twice.`);
    $("import-status").dataset.kind = "error";
  } finally {
    state.running = false;
    claimed.clear(); // unsent ids stay pooled for the next run
    $("import-cancel").hidden = true;
    // What is in the vault now: a second click imports only what is still missing.
    const plan = await planAgainstVault(state.records).catch(() => null);
    if (plan) {
      state.plan = plan;
      renderPreview();
    }
    root.dataset.imported = String(done);
  }
}

// --- the page -----------------------------------------------------------------------------

function showResume() {
  const run = store.get(RUN_KEY);
  const note = $("import-resume");
  if (!run || run.done >= run.total) {
    note.hidden = true;
    return;
  }
  note.textContent =
    `Your last import stopped after ${run.done} of ${run.total} prompts. ` +
    "Choose the same files again to finish it: the prompts already in your vault are recognised and skipped.";
  note.hidden = false;
}

async function enter() {
  show("import-main");
  $("vault-user").textContent = session.user.email;
  state.limits = (await session.api("GET", "/api/vault/config")).limits;
  showResume();
}

function onFiles(files) {
  if (!files.length) return;
  preview([...files]).catch((error) => say($("pick-status"), describe(error), "error"));
}

$("import-files").addEventListener("change", (event) => onFiles(event.target.files));
const zone = $("drop-zone");
zone.addEventListener("dragover", (event) => {
  event.preventDefault();
  zone.dataset.over = "1";
});
zone.addEventListener("dragleave", () => delete zone.dataset.over);
zone.addEventListener("drop", (event) => {
  event.preventDefault();
  delete zone.dataset.over;
  onFiles(event.dataTransfer.files);
});
$("import-form").addEventListener("change", updateStartButton);
$("import-form").addEventListener("submit", runImport);
$("import-cancel").addEventListener("click", () => {
  state.cancel = true;
  say($("import-status"), "Cancelling after the batch being sent…");
});

await openVault(session, show, enter);
root.dataset.ready = "1";
