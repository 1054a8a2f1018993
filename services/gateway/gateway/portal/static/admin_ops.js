// Long work's progress: the status page asks its small JSON status every
// two seconds (a job's page every second: data-every) and shows its text and,
// for a job, how far its bar is; once the work is over the page is loaded
// again with the outcome. Without script the page's «Обновить» link does it.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("progress");
  if (!box || box.dataset.done !== "false" || !box.dataset.statusUrl) return;
  const every = Number(box.dataset.every) || 2000;
  const bar = document.getElementById("progress-bar");
  const ask = () => {
    fetch(box.dataset.statusUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((answer) => (answer.ok && !answer.redirected ? answer.json() : null))
      .then((state) => {
        if (state === null) return;
        if (state.text && box.textContent !== state.text) box.textContent = state.text;
        if (bar && state.max) {
          bar.max = state.max;
          bar.value = state.value;
          bar.setAttribute("role", "progressbar");
          bar.setAttribute("aria-valuemin", "0");
          bar.setAttribute("aria-valuemax", String(state.max));
          bar.setAttribute("aria-valuenow", String(state.value));
        }
        if (state.done) {
          window.location.reload();
        } else {
          window.setTimeout(ask, every);
        }
      })
      .catch(() => window.setTimeout(ask, 5000));
  };
  window.setTimeout(ask, every);
});

// A form whose answer takes a while (an import, a year close, a report): once sent, it says so under its button.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-busy]").forEach((form) => {
    form.addEventListener("submit", () => {
      if (form.querySelector(".busy")) return;
      const status = document.createElement("p");
      status.className = "busy running";
      status.setAttribute("role", "status");
      status.textContent = form.dataset.busy;
      const bar = document.createElement("progress");
      bar.className = "working";
      bar.setAttribute("aria-label", "Выполняется");
      form.append(status, bar);
    });
  });
});
