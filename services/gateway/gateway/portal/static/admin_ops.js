// Long work's progress: the status page asks its small JSON status every
// two seconds and shows its text; once the work is over the page is loaded
// again with the outcome. Without script the page's «Обновить» link does it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (!box || box.dataset.done !== "false" || !box.dataset.statusUrl) return;
  const ask = () => {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((answer) => (answer.ok && !answer.redirected ? answer.json() : null))
      .then((state) => {
        if (state === null) return;
        if (state.text && box.textContent !== state.text) box.textContent = state.text;
        if (state.done) {
          window.location.reload();
        } else {
          window.setTimeout(ask, 2000);
        }
      })
      .catch(() => window.setTimeout(ask, 5000));
  };
  window.setTimeout(ask, 2000);
});
