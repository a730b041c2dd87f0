// /vault/: private prompts decrypted in this tab. List + search (title, body, notes, tags),
// create, edit (each save a new version), history with a word diff between any two
// versions, restore, tags (bulk), favorites, copy. Only ciphertext goes to the server.
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe, openVault } = await import(root.dataset.session);
const { diffWords } = await import(root.dataset.diff);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);
const FIELDS = ["title", "body", "notes"];
const state = {
  prompts: new Map(),
  tags: new Map(),
  selected: new Set(),
  editing: null,
  owner: false, // the account owns a verified creator profile (docs/creators.md)
  published: new Set(), // post ids whose page shows a prompt published from here
};

function show(view) {
  for (const name of ["vault-signin", "vault-unlock", "vault-main"]) $(name).hidden = name !== view;
}

function status(message, kind = "info") {
  say($("vault-status"), message, kind);
}

function guard(work) {
  return async (event) => {
    if (event && event.preventDefault) event.preventDefault();
    try {
      await work(event);
    } catch (error) {
      if (error.code === "stale_version") {
        await load();
        // Keep the typed text; the next Save goes on top of the version just loaded.
        if (state.editing) {
          state.editing = state.prompts.get(state.editing.id) || null;
          if (state.editing) {
            $("editor-heading").textContent = `Edit (saves version ${state.editing.version + 1})`;
          }
        }
        status(`${error.message}`, "error");
        return;
      }
      status(describe(error), "error");
    }
  };
}

const ids = (promptId, version) => ({ userId: session.user.id, promptId, version });

async function openPrompt(row) {
  const itemKey = await vc.unwrapItemKey(session.userKey, row.wrapped_item_key, ids(row.id));
  return { ...row, itemKey, plain: await decryptVersion(itemKey, row.id, row.latest) };
}

async function decryptVersion(itemKey, promptId, version) {
  const plain = {};
  for (const field of FIELDS) {
    plain[field] = await vc.decryptField(itemKey, version.fields[field], {
      ...ids(promptId, version.version),
      field,
    });
  }
  return plain;
}

async function encryptFields(itemKey, promptId, version, plain) {
  const fields = {};
  for (const field of FIELDS) {
    fields[field] = await vc.encryptField(
      itemKey,
      { ...ids(promptId, version), field },
      plain[field],
    );
  }
  return fields;
}

// After the first full load, only what changed since the last answer is fetched and
// decrypted (plus the deleted ids), like any other device catching up.
async function load() {
  const since = state.cursor === undefined ? "" : `?since=${state.cursor}`;
  const data = await session.api("GET", `/api/prompts${since}`);
  state.cursor = data.server_time;
  state.tags.clear();
  for (const tag of data.tags) {
    const name = await vc.decryptTagName(session.userKey, tag.name, {
      userId: session.user.id,
      tagId: tag.id,
    });
    state.tags.set(tag.id, name);
  }
  if (data.full) state.prompts.clear();
  for (const id of data.deleted) state.prompts.delete(id);
  for (const row of data.prompts) state.prompts.set(row.id, await openPrompt(row));
  for (const id of [...state.selected]) if (!state.prompts.has(id)) state.selected.delete(id);
  render();
}

function matches(prompt, words) {
  const haystack = [
    ...FIELDS.map((f) => prompt.plain[f]),
    ...prompt.tags.map((t) => state.tags.get(t) || ""),
  ]
    .join("\n")
    .toLowerCase();
  return words.every((w) => haystack.includes(w));
}

function render() {
  const words = $("vault-search").value.toLowerCase().split(/\s+/).filter(Boolean);
  const shown = [...state.prompts.values()]
    .filter((p) => matches(p, words))
    .sort((a, b) => b.updated_at - a.updated_at || a.id.localeCompare(b.id));
  $("vault-count").textContent = `${shown.length} of ${state.prompts.size} prompts`;
  $("prompt-list").replaceChildren(...shown.map(promptItem));
  renderTags();
}

function promptItem(p) {
  const title = p.plain.title || "Untitled";
  const chips = p.tags.map((t) => el("span", { class: "tag-chip", text: state.tags.get(t) || "?" }));
  const select = el("input", {
    type: "checkbox",
    "aria-label": `Select ${title}`,
    checked: state.selected.has(p.id),
    onchange: (e) => {
      if (e.target.checked) state.selected.add(p.id);
      else state.selected.delete(p.id);
    },
  });
  const fav = el("button", {
    type: "button",
    class: "fav-button",
    "aria-pressed": p.favorite ? "true" : "false",
    "aria-label": `Favorite ${title}`,
    text: p.favorite ? "★ Favorite" : "☆ Favorite",
    onclick: guard(async () => {
      await session.api("PATCH", `/api/prompts/${p.id}`, { favorite: !p.favorite });
      p.favorite = !p.favorite;
      render();
    }),
  });
  const copyStatus = el("span", { class: "copy-status", role: "status" });
  const actions = el(
    "div",
    { class: "actions" },
    select,
    el("button", { type: "button", text: "Edit", "aria-label": `Edit ${title}`, onclick: () => openEditor(p) }),
    el("button", {
      type: "button",
      text: "History",
      "aria-label": `History of ${title}`,
      onclick: guard(() => openHistory(p.id)),
    }),
    el("button", {
      type: "button",
      text: "Copy",
      "aria-label": `Copy ${title}`,
      onclick: async () => {
        try {
          await navigator.clipboard.writeText(p.plain.body);
          copyStatus.textContent = "Copied.";
        } catch {
          copyStatus.textContent = "Could not copy: select the text and copy it by hand.";
        }
      },
    }),
    fav,
    el("button", {
      type: "button",
      class: "danger",
      text: "Delete",
      "aria-label": `Delete ${title}`,
      onclick: guard(async () => {
        if (!window.confirm(`Delete "${title}" with all its versions?`)) return;
        await session.api("DELETE", `/api/prompts/${p.id}`);
        document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_delete" }));
        await load();
        status("Deleted.");
      }),
    }),
    copyStatus,
  );
  const confirmBox = el("div", { class: "publish-confirm", hidden: true });
  if (p.post_id && state.owner) actions.append(publishButton(p, title, confirmBox));
  if (!p.post_id && state.owner) actions.append(linkButton(p, title, confirmBox));
  return el(
    "li",
    { class: "prompt-item", "data-id": p.id },
    el("h3", { text: title }),
    el("p", { class: "body", text: p.plain.body }),
    p.plain.notes ? el("p", { class: "notes", text: `Notes: ${p.plain.notes}` }) : null,
    el("p", { class: "meta", text: `Version ${p.version}` }, " ", ...chips),
    actions,
    confirmBox,
  );
}

// A prompt written by hand names no video: its owner links it to one of theirs (a Sora
// or SoraStats link, or the bare id) before publishing it there. The link is the prompt's
// plaintext `post_id`, as an imported prompt's is; the server checks the video is theirs
// when the prompt is published.
const VIDEO_ID = /\b(s_[A-Za-z0-9_-]{1,62})/;

function linkButton(p, title, box) {
  return el("button", {
    type: "button",
    text: "Link to my video",
    "aria-label": `Link ${title} to my video`,
    onclick: () => {
      const field = el("input", { type: "text", id: `video-${p.id}`, autocomplete: "off", spellcheck: "false" });
      const form = el(
        "form",
        {
          class: "link-video",
          onsubmit: guard(async (event) => {
            event.preventDefault();
            const found = VIDEO_ID.exec(field.value.trim());
            if (!found) {
              status("Paste your video's link (…/p/s_…) or its id (s_…).");
              field.focus();
              return;
            }
            await session.api("PATCH", `/api/prompts/${p.id}`, { post_id: found[1] });
            await load();
            status(`Linked to video ${found[1]}: you can now publish it on that video's page.`);
          }),
        },
        el("label", { for: `video-${p.id}`, text: "Your video's link or id" }),
        " ",
        field,
        " ",
        el("button", { type: "submit", text: "Link" }),
        " ",
        el("button", { type: "button", text: "Cancel", onclick: () => { box.hidden = true; } }),
      );
      box.replaceChildren(form);
      box.hidden = false;
      field.focus();
    },
  });
}

// "Publish on my video's page": says plainly that the text becomes public, then sends the
// decrypted body (the only time a vault text leaves the browser, by the owner's choice).
function publishButton(p, title, box) {
  const post = encodeURIComponent(p.post_id);
  if (state.published.has(p.post_id)) {
    return el("button", {
      type: "button",
      text: "Unpublish from my video's page",
      "aria-label": `Unpublish ${title} from the video's page`,
      onclick: guard(async () => {
        await session.api("DELETE", `/api/published-prompts/${post}`);
        state.published.delete(p.post_id);
        render();
        status("Taken back: the video's page drops it at the next update.");
      }),
    });
  }
  return el("button", {
    type: "button",
    text: "Publish on my video's page",
    "aria-label": `Publish ${title} on the video's page`,
    onclick: () => {
      box.replaceChildren(
        el("p", {
          class: "warning",
          text:
            `This text will become public: anyone can read it on the page of video ${p.post_id} ` +
            "(\"Prompt shared by the creator\") and find it in search, from the next update " +
            "of the site. You can take it back later.",
        }),
        el("button", {
          type: "button",
          text: "Publish it",
          onclick: guard(async () => {
            await session.api("POST", "/api/published-prompts", {
              post_id: p.post_id,
              prompt: p.plain.body,
            });
            state.published.add(p.post_id);
            render();
            status("Published: it appears on the video's page after the next update.");
          }),
        }),
        " ",
        el("button", { type: "button", text: "Cancel", onclick: () => { box.hidden = true; } }),
      );
      box.hidden = false;
    },
  });
}

async function loadCreator() {
  const { claims } = await session.api("GET", "/api/claims");
  state.owner = claims.some((c) => c.status === "verified");
  if (!state.owner) return;
  const { published } = await session.api("GET", "/api/published-prompts");
  state.published = new Set(published.map((row) => row.post_id));
}

function renderTags() {
  const options = [...state.tags.entries()].map(([id, name]) => el("option", { value: id, text: name }));
  $("bulk-tag").replaceChildren(...options);
  $("bulk-controls").hidden = state.tags.size === 0;
  $("tag-list").replaceChildren(
    ...[...state.tags.entries()].map(([id, name]) =>
      el(
        "li",
        {},
        el("span", { class: "tag-chip", text: name }),
        " ",
        el("button", {
          type: "button",
          text: "Rename",
          "aria-label": `Rename tag ${name}`,
          onclick: guard(async () => {
            const fresh = window.prompt("New name for the tag", name);
            if (!fresh || !fresh.trim()) return;
            const envelope = await vc.encryptTagName(
              session.userKey,
              { userId: session.user.id, tagId: id },
              fresh.trim(),
            );
            await session.api("PATCH", `/api/tags/${id}`, { name: envelope });
            await load();
          }),
        }),
        " ",
        el("button", {
          type: "button",
          class: "danger",
          text: "Delete",
          "aria-label": `Delete tag ${name}`,
          onclick: guard(async () => {
            await session.api("DELETE", `/api/tags/${id}`);
            await load();
          }),
        }),
      ),
    ),
  );
}

function openEditor(prompt) {
  state.editing = prompt || null;
  const form = $("editor-form");
  for (const field of FIELDS) form.elements[field].value = prompt ? prompt.plain[field] : "";
  $("editor-heading").textContent = prompt ? `Edit (saves version ${prompt.version + 1})` : "New prompt";
  $("editor").hidden = false;
  form.elements.title.focus();
}

function closePanel(id) {
  $(id).hidden = true;
  $("vault-search").focus();
}

async function save(event) {
  const form = event.target;
  const plain = Object.fromEntries(FIELDS.map((f) => [f, form.elements[f].value]));
  if (!plain.body.trim()) throw new Error("Write the prompt first.");
  const editing = state.editing;
  if (editing) {
    const version = editing.version + 1;
    await session.api("POST", `/api/prompts/${editing.id}/versions`, {
      base_version: editing.version,
      fields: await encryptFields(editing.itemKey, editing.id, version, plain),
    });
    status(`Saved version ${version}.`);
  } else {
    const [promptId] = (await session.api("POST", "/api/vault/ids", { kind: "prompt" })).ids;
    const { itemKey, wrappedItemKey } = await vc.createItemKey(session.userKey, ids(promptId));
    await session.api("POST", "/api/prompts", {
      id: promptId,
      wrapped_item_key: wrappedItemKey,
      fields: await encryptFields(itemKey, promptId, 1, plain),
    });
    status("Saved.");
  }
  document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "vault_save" })); // usage metrics: the name only
  $("editor").hidden = true;
  await load();
  $("vault-search").focus();
}

async function openHistory(promptId) {
  const { prompt } = await session.api("GET", `/api/prompts/${promptId}`);
  const base = state.prompts.get(promptId);
  const versions = [];
  for (const v of prompt.versions) {
    versions.push({ ...v, plain: await decryptVersion(base.itemKey, promptId, v) });
  }
  state.history = { prompt: base, versions, latest: prompt.version };
  const label = (v) =>
    `Version ${v.version} · ${new Date(v.created_at * 1000).toLocaleString()}` +
    (v.restored_from ? ` (restored from ${v.restored_from})` : "");
  const options = () => versions.map((v) => el("option", { value: String(v.version), text: label(v) }));
  $("diff-from").replaceChildren(...options());
  $("diff-to").replaceChildren(...options());
  $("diff-from").value = String(Math.max(1, prompt.version - 1));
  $("diff-to").value = String(prompt.version);
  $("history-list").replaceChildren(
    ...versions.map((v) =>
      el(
        "li",
        {},
        el("span", { text: `${label(v)}: ${v.plain.title || "Untitled"}` }),
        " ",
        v.version === prompt.version
          ? el("em", { text: "current" })
          : el("button", {
              type: "button",
              text: `Restore version ${v.version}`,
              onclick: guard(() => restore(v)),
            }),
      ),
    ),
  );
  $("history-heading").textContent = `History of ${base.plain.title || "Untitled"}`;
  $("history").hidden = false;
  showDiff();
  $("history-heading").focus();
}

function showDiff() {
  const { versions } = state.history;
  const from = versions.find((v) => String(v.version) === $("diff-from").value);
  const to = versions.find((v) => String(v.version) === $("diff-to").value);
  const parts = [];
  for (const field of FIELDS) {
    const pieces = diffWords(from.plain[field], to.plain[field]).map((part) =>
      part.op === "same"
        ? document.createTextNode(part.text)
        : el(part.op === "add" ? "ins" : "del", { text: part.text }),
    );
    parts.push(el("h4", { text: field[0].toUpperCase() + field.slice(1) }), el("div", { class: "diff" }, ...pieces));
  }
  $("diff-output").replaceChildren(...parts);
}

async function restore(version) {
  const { prompt, latest } = state.history;
  const next = latest + 1;
  await session.api("POST", `/api/prompts/${prompt.id}/versions`, {
    base_version: latest,
    restored_from: version.version,
    fields: await encryptFields(prompt.itemKey, prompt.id, next, version.plain),
  });
  await load();
  status(`Restored version ${version.version} as version ${next}.`);
  await openHistory(prompt.id);
}

async function createTag(event) {
  const name = event.target.elements.name.value.trim();
  if (!name) throw new Error("Name the tag first.");
  const [tagId] = (await session.api("POST", "/api/vault/ids", { kind: "tag" })).ids;
  const envelope = await vc.encryptTagName(session.userKey, { userId: session.user.id, tagId }, name);
  await session.api("POST", "/api/tags", { id: tagId, name: envelope });
  event.target.reset();
  await load();
  status(`Tag "${name}" created.`);
}

async function bulk(action) {
  const tagId = $("bulk-tag").value;
  const chosen = [...state.selected];
  if (!tagId || chosen.length === 0) throw new Error("Select prompts and a tag first.");
  const answer = await session.api("POST", `/api/tags/${tagId}/${action}`, { prompt_ids: chosen });
  await load();
  const verb = action === "assign" ? "Tagged" : "Untagged";
  status(`${verb} ${answer.changed} prompts with "${state.tags.get(tagId)}".`);
}

async function enter() {
  state.cursor = undefined;
  show("vault-main");
  $("vault-user").textContent = session.user.email;
  // `#search=words` (the import's "open your vault" link) fills the search: a fragment,
  // so a tag name never reaches the server or its logs.
  const asked = new URLSearchParams(location.hash.slice(1)).get("search");
  if (asked) $("vault-search").value = asked;
  await loadCreator();
  await load();
  $("vault-search").focus();
}

$("vault-search").addEventListener("input", render);
$("new-prompt").addEventListener("click", () => openEditor(null));
$("editor-form").addEventListener("submit", guard(save));
$("editor-cancel").addEventListener("click", () => closePanel("editor"));
$("history-close").addEventListener("click", () => closePanel("history"));
$("diff-show").addEventListener("click", showDiff);
$("tag-form").addEventListener("submit", guard(createTag));
$("bulk-assign").addEventListener("click", guard(() => bulk("assign")));
$("bulk-unassign").addEventListener("click", guard(() => bulk("unassign")));
$("vault-lock").addEventListener("click", guard(async () => {
  await session.lock();
  show("vault-unlock");
  $("unlock-password").focus();
}));
$("vault-signout").addEventListener("click", guard(async () => {
  await session.signOut();
  show("vault-signin");
}));
document.addEventListener("keydown", (event) => {
  if (event.key !== "Escape") return;
  for (const id of ["editor", "history"]) if (!$(id).hidden) closePanel(id);
});

await openVault(session, show, enter);
root.dataset.ready = "1";
