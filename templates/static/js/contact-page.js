// /contact/: the removal or objection request (POST /api/removal-requests, no account).
const form = document.getElementById("removal-form");
const status = document.getElementById("removal-status");

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const f = Object.fromEntries(new FormData(form).entries());
  status.dataset.kind = "info";
  status.textContent = "Sending…";
  try {
    const response = await fetch("/api/removal-requests", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ target: f.target.trim(), reason: f.reason, email: f.email.trim() }),
      credentials: "same-origin",
    });
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      throw new Error((data && data.error && data.error.message) || response.statusText);
    }
    form.reset();
    status.textContent = "Received. We sent you a confirmation by mail and will answer there.";
  } catch (error) {
    status.dataset.kind = "error";
    status.textContent = String(error.message || error);
  }
});
form.dataset.ready = "1";
