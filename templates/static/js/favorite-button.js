// The favorite button of a public prompt page: shown only to a signed-in visitor. The
// localStorage hint (set at sign-in) spares everyone else an /api/me request.
const box = document.getElementById("favorite-box");
if (box) {
  const { hintedSignedIn } = await import(box.dataset.session);
  if (hintedSignedIn()) await setUp(box);
}

async function setUp(box) {
  const me = await fetch("/api/me", { credentials: "same-origin" });
  if (!me.ok) return;
  const { csrf_token: csrf } = await me.json();
  const postId = box.dataset.postId;
  const button = box.querySelector("button");
  const status = box.querySelector(".fav-status");
  const list = await (await fetch("/api/favorites", { credentials: "same-origin" })).json();
  let on = list.favorites.some((f) => f.post_id === postId);
  const paint = () => {
    button.setAttribute("aria-pressed", on ? "true" : "false");
    button.textContent = on ? "★ Favorited" : "☆ Favorite";
  };
  paint();
  box.hidden = false;
  button.addEventListener("click", async () => {
    const response = await fetch(`/api/favorites/${encodeURIComponent(postId)}`, {
      method: on ? "DELETE" : "PUT",
      headers: { "X-CSRF-Token": csrf },
      credentials: "same-origin",
    });
    if (response.ok) {
      on = !on;
      paint();
      document.dispatchEvent(new CustomEvent("sorastats:track", { detail: "favorite" })); // usage metrics
      status.textContent = on ? "Added to your favorites." : "Removed from your favorites.";
    } else {
      status.textContent = "Could not save the favorite; try again.";
    }
  });
}
