// The "Watch" button of a creator or video page: shown only to a signed-in visitor (the
// localStorage hint set at sign-in spares everyone else an /api/me request), as the
// favorite button. Adds or removes the item from the account's watchlist (/watchlist/).
const box = document.getElementById("watch-box");
if (box) {
  const { hintedSignedIn } = await import(box.dataset.session);
  if (hintedSignedIn()) await setUp(box);
}

async function setUp(box) {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (!me.ok) return;
  const { csrf_token: csrf } = await me.json();
  const { kind, id } = box.dataset;
  const button = box.querySelector("button");
  const status = box.querySelector(".watch-status");
  const listed = await fetch("/api/watchlist/ids", { credentials: "same-origin" });
  if (!listed.ok) return;
  let on = (await listed.json()).items.some((i) => i.kind === kind && i.id === id);
  const paint = () => {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "👁 Watching" : "👁 Watch";
  };
  paint();
  box.hidden = false;
  button.addEventListener("click", async () => {
    const response = await fetch(`/api/watchlist/${encodeURIComponent(kind)}/${encodeURIComponent(id)}`, {
      method: on ? "DELETE" : "PUT",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (response.ok) {
      on = !on;
      paint();
      document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "watch" })); // usage metrics
      status.replaceChildren(on ? "Added to your " : "Removed from your ", Object.assign(document.createElement("a"), { href: "/watchlist/", textContent: "watchlist" }), ".");
      return;
    }
    let message = "Could not change your watchlist; try again.";
    try {
      const error = (await response.json()).error;
      if (error && typeof error.message === "string") message = error.message;
    } catch {}
    status.textContent = message;
    if (response.status === 402) status.append(" ", Object.assign(document.createElement("a"), { href: "/pricing/", textContent: "See plans" }));
  });
}
