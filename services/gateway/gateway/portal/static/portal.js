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
