// Small conveniences; every page works without them.
// - the menu folds behind a button on narrow screens;
// - a form's submit button is disabled once sent, so a double click posts once.
"use strict";

document.documentElement.classList.add("js");

document.addEventListener("DOMContentLoaded", () => {
  const toggle = document.querySelector(".menu-toggle");
  const menu = document.getElementById("menu");
  if (toggle && menu) {
    const narrow = window.matchMedia("(max-width: 40rem)");
    const fold = () => {
      toggle.hidden = !narrow.matches;
      menu.dataset.collapsed = narrow.matches && toggle.getAttribute("aria-expanded") !== "true" ? "true" : "false";
    };
    toggle.addEventListener("click", () => {
      toggle.setAttribute("aria-expanded", toggle.getAttribute("aria-expanded") === "true" ? "false" : "true");
      fold();
    });
    narrow.addEventListener("change", fold);
    fold();
  }
  document.querySelectorAll("form[method='post']").forEach((form) => {
    form.addEventListener("submit", () => {
      form.querySelectorAll("button[type='submit']").forEach((button) => {
        window.setTimeout(() => { button.disabled = true; }, 0);
      });
    });
  });
});

// Mail: the recipients list follows the search field as one types (the form's "find" button does it without script).
document.addEventListener("DOMContentLoaded", () => {
  const field = document.getElementById("q");
  const results = document.getElementById("recipient-results");
  const chosen = document.getElementById("chosen");
  if (!field || !results || !chosen || !field.dataset.recipientsUrl) return;
  let timer = null;
  let asked = 0;
  const keepChecked = () => {
    results.querySelectorAll("input[name='to']:checked").forEach((box) => chosen.appendChild(box.closest("li")));
  };
  const search = () => {
    keepChecked();
    const url = new URL(field.dataset.recipientsUrl, window.location.href);
    url.searchParams.set("q", field.value.trim());
    chosen.querySelectorAll("input[name='to']").forEach((box) => url.searchParams.append("chosen", box.value));
    const mine = ++asked;
    fetch(url, { credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then((answer) => (answer.ok && !answer.redirected ? answer.text() : null))
      .then((html) => {
        if (html !== null && mine === asked) {
          keepChecked();
          results.innerHTML = html;
        }
      })
      .catch(() => {});
  };
  field.addEventListener("input", () => {
    window.clearTimeout(timer);
    timer = window.setTimeout(search, 250);
  });
  field.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      window.clearTimeout(timer);
      search();
    }
  });
});
