// /vault/import/: a Sora backup into the vault. The files are read here (sora-import.js);
// each prompt is encrypted here and sent in batches to POST /api/prompts/bulk, so neither
// the file nor any prompt text leaves the browser in clear. What the vault already holds
// is recognised (generation id, post id, then text), which makes a second import of the
// same files add nothing and lets an interrupted import resume after a reload. The
// WebCrypto work runs in short-lived workers (vault-import-worker.js) so that its garbage
// leaves with them, and the page keeps of the vault only ids and text fingerprints.
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe, openVault } = await import(root.dataset.session);
const si = await import(root.dataset.import);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);
// Both keys are rows of sorastats/browser_storage.py; vault-session.js drops them at sign-out.
const RUN_KEY = "sorastats.import.run"; // {userId, total, done}: counts, no names, no text
const POOL_KEY = "sorastats.import.ids"; // {userId, ids: [{id, expires}]}: reserved, unused
const state = { records: [], plan: null, problems: [], limits: null, usage: null, running: false, cancel: false };
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


// --- what the vault holds -----------------------------------------------------------------

/** Runs jobs one at a time in a module worker that is replaced after `jobsPerWorker`
 * jobs and ended by `close()`: chromium gives a worker's memory back when it ends. */
class Helper {
  constructor(jobsPerWorker) {
    this.jobsPerWorker = jobsPerWorker;
    this.worker = null;
    this.jobs = 0;
    this.queue = Promise.resolve();
    this.lastId = 0;
  }

  run(message) {
    const job = this.queue.then(() => this.send(message));
    this.queue = job.catch(() => {});
    return job;
  }

  send(message) {
    if (!this.worker || this.jobs >= this.jobsPerWorker) {
      this.close();
      this.worker = new Worker(root.dataset.worker, { type: "module", name: "vault-import" });
    }
    this.jobs += 1;
    const worker = this.worker;
    const id = ++this.lastId;
    return new Promise((resolve, reject) => {
      worker.onmessage = ({ data }) => {
        if (data.id !== id) return;
        if (data.error) reject(Object.assign(new Error(data.error.message), data.error));
        else resolve(data.result);
      };
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(`the import helper stopped (${event.message || "no reason given"})`));
      };
      worker.postMessage({
        ...message,
        id,
        userKey: session.userKey,
        userId: session.user.id,
        cryptoUrl: root.dataset.crypto,
        importUrl: root.dataset.import,
      });
    });
  }

  close() {
    if (this.worker) this.worker.terminate();
    this.worker = null;
    this.jobs = 0;
  }
}

// Rows decrypted per worker: chromium holds about 9 MB of garbage per 1,000 WebCrypto
// calls until the worker ends (10,000 prompts in the page itself: 90 MB).
const INDEX_ROWS = 500;

/** The vault's prompts, each as the few ciphertexts `plan` may need; the listing itself
 * (15 MB for 10,000 prompts) is dropped on return. */
async function vaultRows() {
  const listing = await session.api("GET", "/api/prompts");
  return listing.prompts.map((row) => ({
    id: row.id,
    version: row.latest.version,
    wrapped: row.wrapped_item_key,
    notes: row.latest.fields.notes,
    body: row.latest.fields.body,
    postId: row.post_id,
  }));
}

/** si.indexOf of `rows`, decrypted in workers (two at a time, one a core here): the notes
 * (generation and post ids), and the bodies too when `withBodies`. */
async function vaultIndex(rows, withBodies) {
  const index = { generations: [], posts: [], texts: [] };
  const slices = [];
  for (let start = 0; start < rows.length; start += INDEX_ROWS) slices.push(rows.slice(start, start + INDEX_ROWS));
  const lane = async () => {
    const helper = new Helper(1);
    try {
      for (let part = slices.shift(); part; part = slices.shift()) {
        if (!withBodies) part = part.map(({ body, ...rest }) => rest);
        const found = await helper.run({ op: "index", rows: part });
        for (const key of Object.keys(index)) for (const value of found[key]) index[key].push(value);
      }
    } finally {
      helper.close();
    }
  };
  await Promise.all([lane(), lane()]);
  return index;
}

/** `records` sorted against the vault. Notes (with the generation and post ids) first;
 * the bodies only when some record is not matched by an id, since they are needed only to
 * match by text (a second import of the same files never needs them: half the work). */
async function planAgainstVault(records) {
  const rows = await vaultRows();
  let plan = si.plan(records, await vaultIndex(rows, false));
  if (plan.fresh.length && rows.length) plan = si.plan(records, await vaultIndex(rows, true));
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
  state.usage = await session.api("GET", "/api/vault/usage");
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

const number = (n) => n.toLocaleString("en");
const plural = (n, one, many = `${one}s`) => `${number(n)} ${n === 1 ? one : many}`;

/** The new prompts of the kinds chosen, in file order. */
function chosen() {
  const kinds = new FormData($("import-form")).get("kinds");
  return state.plan ? state.plan.fresh.filter((r) => kinds === "all" || r.kind === kinds) : [];
}

/** What the import will send: as many of `chosen()` as the tier and the account cap leave
 * room for (GET /api/vault/usage, the numbers the server checks). */
function importable() {
  const all = chosen();
  return state.usage ? all.slice(0, state.usage.room) : all;
}

function tagNames() {
  return [...new Set($("import-tags").value.split(",").map((t) => t.trim()).filter(Boolean))];
}

function upgradeLink(text) {
  return el("a", { href: "/pricing/", text });
}

/** Whether the tier's prompt count, not the account cap, is what runs out first. */
function tierBinds(usage) {
  const allowed = usage.limits.private_prompts;
  return allowed !== null && allowed <= usage.limits.account_prompts;
}

/** The preview's word on limits: how many of the chosen fit, and what lifts the limit. */
function renderLimit() {
  const note = $("import-limit");
  const usage = state.usage;
  const wanted = chosen().length;
  const fitting = importable().length;
  const parts = [];
  if (usage && fitting < wanted) {
    const tierSays = tierBinds(usage)
      ? `Your ${usage.tier_title} plan keeps up to ${plural(usage.limits.private_prompts, "private prompt")}`
      : `An account holds at most ${plural(usage.limits.account_prompts, "prompt")}`;
    parts.push(
      `${tierSays} and your vault holds ${number(usage.prompts)}: ${number(fitting)} of the ${number(wanted)} ` +
        `chosen will be imported, ${number(wanted - fitting)} will not (the first ones in the files go first).`,
    );
  }
  const tagLimit = usage ? usage.limits.tags_per_prompt : null;
  if (tagLimit !== null && tagNames().length > tagLimit) {
    parts.push(`Your ${usage.tier_title} plan allows ${plural(tagLimit, "tag")} on one prompt: remove some tags to start.`);
  }
  if (parts.length === 0) {
    note.hidden = true;
    note.replaceChildren();
    return;
  }
  const children = [parts.join(" ")];
  const overTier = (fitting < wanted && tierBinds(usage)) || (tagLimit !== null && tagNames().length > tagLimit);
  if (overTier && usage.lifted_by) {
    const what = fitting < wanted && tierBinds(usage) ? " to import them all." : " for more tags on one prompt.";
    children.push(" ", upgradeLink(`Upgrade to ${usage.lifted_by.title}`), what);
  }
  note.replaceChildren(...children);
  note.hidden = false;
}

function tooManyTags() {
  const limit = state.usage ? state.usage.limits.tags_per_prompt : null;
  return limit !== null && tagNames().length > limit;
}

function updateStartButton() {
  const n = importable().length;
  const of = chosen().length;
  $("import-start").textContent =
    n < of ? `Import ${number(n)} of ${plural(of, "prompt")}` : `Import ${plural(n, "prompt")}`;
  $("import-start").disabled = n === 0 || state.running || tooManyTags();
  renderLimit();
}

// --- importing ----------------------------------------------------------------------------

async function tagIds(names) {
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

// Chunks encrypted per worker before it is replaced (see Helper).
const CHUNKS_PER_WORKER = 5;

async function encryptChunk(helper, records) {
  const promptIds = await takeIds(records.length);
  return helper.run({ op: "encrypt", records, promptIds });
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

/** "about 2 min left", from the pace so far (none before the first batch is sent). */
function eta(done, total, elapsedMs) {
  if (done === 0 || done >= total) return "";
  const seconds = Math.ceil(((total - done) * elapsedMs) / done / 1000);
  if (seconds < 60) return `about ${plural(Math.max(seconds, 1), "second")} left`;
  return `about ${plural(Math.round(seconds / 60), "minute")} left`;
}

function progress(done, total, startedAt) {
  $("import-progress").max = Math.max(total, 1);
  $("import-progress").value = done;
  const left = eta(done, total, Date.now() - startedAt);
  say($("import-status"), `${number(done)} of ${plural(total, "prompt")} imported${left ? ` · ${left}` : ""}`);
}

/** The end of a run, in words: how many went in, of which kinds, with which tags, and
 * what was left and why; a link to the vault showing them (the tag, in the fragment:
 * tag names are private and a fragment is never sent). */
function summarize(sent, total, names, stop) {
  const published = sent.filter((r) => r.kind === "published").length;
  const kinds = [];
  if (sent.length > published) kinds.push(plural(sent.length - published, "draft"));
  if (published) kinds.push(`${plural(published, "published prompt")} linked to ${published === 1 ? "its post" : "their posts"}`);
  const lines = [];
  let head = `${plural(sent.length, "prompt")} imported`;
  if (kinds.length) head += ` (${kinds.join(", ")})`;
  if (names.length && sent.length) head += `, tagged ${names.map((n) => `“${n}”`).join(", ")}`;
  lines.push(`${head}.`);
  if (sent.length < total) lines.push(`${number(total - sent.length)} of the ${number(total)} chosen were not imported: ${stop.text}`);
  const summary = $("import-summary");
  const children = [el("p", { text: lines.join(" ") })];
  if (sent.length < total && stop.upgrade && state.usage && state.usage.lifted_by) {
    children.push(el("p", {}, upgradeLink(`Upgrade to ${state.usage.lifted_by.title}`), " and import the same files again: what is already in your vault is skipped."));
  }
  summary.replaceChildren(...children);
  summary.hidden = false;
  const link = $("import-open-vault");
  link.href = names.length ? `/vault/#search=${encodeURIComponent(names[0])}` : "/vault/";
  link.textContent = names.length ? `Open your vault, showing “${names[0]}”` : "Open your vault";
  link.hidden = sent.length === 0;
}

/** Why some of the chosen were left out before the start: the tier, or the account cap. */
function noRoom() {
  const usage = state.usage;
  if (tierBinds(usage) && usage.lifted_by) return { text: "your plan has no room for more.", upgrade: true };
  return { text: `an account holds at most ${plural(usage.limits.account_prompts, "prompt")}.`, upgrade: false };
}

/** Why a run stopped: {text, upgrade} (upgrade: a higher tier would let it go on). */
function stopReason(error) {
  if (error.code === "tier_limit") return { text: `${error.message}`, upgrade: true };
  if (error.code === "limit_reached") return { text: `${error.message}`, upgrade: false };
  return { text: `${describe(error)} Import the same files again to go on; nothing is added twice.`, upgrade: false };
}

async function runImport(event) {
  event.preventDefault();
  if (state.running) return;
  const chosenCount = chosen().length;
  const records = importable();
  if (records.length === 0 || tooManyTags()) return;
  state.running = true;
  state.cancel = false;
  updateStartButton();
  $("import-run").hidden = false;
  $("import-summary").hidden = true;
  $("import-cancel").hidden = false;
  $("import-open-vault").hidden = true;
  delete $("import-status").dataset.kind;
  let done = 0;
  let stop = null; // {text, upgrade, cancelled?}
  const names = tagNames();
  const run = { total: records.length, done: 0 };
  store.set(RUN_KEY, run);
  const helper = new Helper(CHUNKS_PER_WORKER);
  const startedAt = Date.now();
  try {
    const tagList = await tagIds(names);
    progress(0, records.length, startedAt);
    // One chunk is sent while the next is encrypted; both hold reserved ids, and an
    // account may hold at most `bulk` (200) unused ids, so a chunk is half of that.
    const CHUNK = Math.max(1, Math.floor(state.limits.bulk / 2));
    let next = encryptChunk(helper, records.slice(0, CHUNK));
    for (let start = 0; start < records.length; start += CHUNK) {
      const items = await next;
      // Encrypt the next chunk while this one is being sent.
      next = start + CHUNK < records.length ? encryptChunk(helper, records.slice(start + CHUNK, start + 2 * CHUNK)) : null;
      if (next) next.catch(() => {}); // awaited on the next turn; an early failure is not unhandled
      for (const batch of requests(items, tagList)) {
        if (state.cancel) break;
        const body = { prompts: batch };
        if (tagList.length) body.tag_ids = tagList;
        await session.api("POST", "/api/prompts/bulk", body);
        releaseIds(batch.map((item) => item.id));
        done += batch.length;
        store.set(RUN_KEY, { ...run, done });
        progress(done, records.length, startedAt);
      }
      if (state.cancel) break;
    }
    if (state.cancel) {
      stop = {
        text: `cancelled. Choose the same files again to import the other ${number(records.length - done)}; nothing is added twice.`,
        upgrade: false,
        cancelled: true,
      };
    } else {
      store.drop(RUN_KEY);
      document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_import" })); // usage metrics
    }
  } catch (error) {
    stop = stopReason(error);
  } finally {
    helper.close();
    state.running = false;
    claimed.clear(); // unsent ids stay pooled for the next run
    $("import-cancel").hidden = true;
    const sent = records.slice(0, done);
    const total = number(records.length);
    if (!stop) say($("import-status"), `${number(done)} of ${total} imported. Done.`);
    else if (stop.cancelled) say($("import-status"), `${number(done)} of ${total} imported: ${stop.text}`);
    else say($("import-status"), `${number(done)} of ${total} imported; stopped: ${stop.text}`, "error");
    // Left out before the start because the plan had no room: said in the summary.
    const why = stop || (chosenCount > records.length ? noRoom() : null);
    summarize(sent, chosenCount, names, why);
    // What is in the vault now: a second click imports only what is still missing. After
    // a failure the vault is asked again (a lost answer may have stored a batch).
    const failed = stop && !stop.cancelled && !stop.upgrade;
    const plan = failed ? await planAgainstVault(state.records).catch(() => null) : afterImport(sent);
    if (plan) state.plan = plan;
    state.usage = await session.api("GET", "/api/vault/usage").catch(() => state.usage);
    renderPreview();
    root.dataset.imported = String(done);
  }
}

/** The plan once `sent` (records of `state.plan.fresh`) are in the vault. */
function afterImport(sent) {
  const gone = new Set(sent);
  return {
    fresh: state.plan.fresh.filter((r) => !gone.has(r)),
    inVault: [...state.plan.inVault, ...sent],
    repeated: state.plan.repeated,
  };
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
$("import-tags").addEventListener("input", updateStartButton);
$("import-form").addEventListener("submit", runImport);
$("import-cancel").addEventListener("click", () => {
  state.cancel = true;
  say($("import-status"), "Cancelling after the batch being sent…");
});

await openVault(session, show, enter);
root.dataset.ready = "1";
