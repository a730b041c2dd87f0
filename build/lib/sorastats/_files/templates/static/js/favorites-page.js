// /vault/favorites/: favorite public prompts (links) and favorite private prompts (their
// titles decrypted here when the vault is unlocked on this device).
const root = document.getElementById("vault-app");
const vc = await import(root.dataset.crypto);
const { Session, el, say, describe } = await import(root.dataset.session);

const session = new Session(vc);
const $ = (id) => document.getElementById(id);

async function privateTitle(row) {
  const userId = session.user.id;
  const itemKey = await vc.unwrapItemKey(session.userKey, row.wrapped_item_key, {
    userId,
    promptId: row.id,
  });
  const title = await vc.decryptField(itemKey, row.latest.fields.title, {
    userId,
    promptId: row.id,
    version: row.latest.version,
    field: "title",
  });
  return title || "Untitled";
}

async function render() {
  const { favorites, prompts } = await session.api("GET", "/api/favorites");
  $("public-favorites").replaceChildren(
    ...favorites.map((f) =>
      el(
        "li",
        {},
        el("a", { href: `/p/${encodeURIComponent(f.post_id)}/`, text: `Prompt ${f.post_id}` }),
        " ",
        el("button", {
          type: "button",
          text: "Remove",
          "aria-label": `Remove ${f.post_id} from favorites`,
          onclick: async () => {
            await session.api("DELETE", `/api/favorites/${encodeURIComponent(f.post_id)}`);
            await render();
          },
        }),
      ),
    ),
  );
  if (favorites.length === 0) $("public-favorites").append(el("li", { text: "None yet: use ☆ Favorite on any prompt page." }));
  const list = $("private-favorites");
  if (!session.unlocked) {
    list.replaceChildren(el("li", { text: `${prompts.length} favorite private prompts. ` }, el("a", { href: "/vault/", text: "Unlock your vault to read them." })));
    return;
  }
  const all = new Map((await session.api("GET", "/api/prompts")).prompts.map((p) => [p.id, p]));
  const items = [];
  for (const id of prompts) {
    if (all.has(id)) items.push(el("li", { text: await privateTitle(all.get(id)) }));
  }
  list.replaceChildren(...(items.length ? items : [el("li", { text: "None yet." })]));
}

try {
  if (await session.resume()) await render();
  else {
    $("public-favorites").replaceChildren(el("li", {}, el("a", { href: "/account/", text: "Sign in to see your favorites." })));
  }
} catch (error) {
  say($("favorites-status"), describe(error), "error");
}
root.dataset.ready = "1";
