// Confirms an email link by POST, so that mail scanners that prefetch links (GET) cannot
// use them up. The token is read from the page's own URL and sent as JSON.
(function () {
  "use strict";
  var main = document.querySelector("main");
  var form = document.getElementById("confirm");
  var result = document.getElementById("result");
  // The token is in the fragment (never sent to servers); accept ?token= too.
  var token = new URLSearchParams(window.location.hash.slice(1)).get("token") ||
    new URLSearchParams(window.location.search).get("token") || "";
  if (!token) {
    result.textContent = "This link is incomplete: open the full link from the mail.";
    form.hidden = true;
    return;
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    form.querySelector("button").disabled = true;
    fetch(main.dataset.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ token: token })
    }).then(function (response) {
      return response.json().then(function (data) { return [response.ok, data]; });
    }).then(function (pair) {
      if (pair[0]) {
        result.textContent = "Done. You can continue to your account.";
        var link = document.createElement("a");
        link.href = main.dataset.done;
        link.textContent = " Go to your account";
        result.appendChild(link);
        form.hidden = true;
      } else {
        result.textContent = (pair[1].error && pair[1].error.message) || "That did not work.";
      }
    }).catch(function () {
      result.textContent = "Network error; try again.";
      form.querySelector("button").disabled = false;
    });
  });
})();
