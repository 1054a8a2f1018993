// The journal grid's saves without leaving the page; the forms work without it too.
// Each save is one request carrying an Idempotency-Key ("key") made per edit:
// a change of any of the form's fields makes a new key, a retry of the same
// edit (a double click, a lost answer) sends the same key, so the journal posts once.
"use strict";

(() => {
  const freshKey = () => {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  };

  const say = (form, text, failed) => {
    const status = form.querySelector(".save-status");
    if (status) {
      status.textContent = text;
      status.classList.toggle("failed", !!failed);
    }
  };

  const showMarks = (form, marks) => {
    marks.forEach((m) => {
      const select = document.getElementById(`mark-${m.student_id}`);
      const cell = select && select.closest("td");
      const box = cell && cell.querySelector(".cell-marks");
      if (!box) return;
      const link = document.createElement("a");
      link.className = `mark mark-${m.value}`;
      link.href = `${m.url}?back=${encodeURIComponent(window.location.pathname + window.location.search)}`;
      link.textContent = String(m.value);
      link.setAttribute("aria-label", `оценка ${m.value}: исправить`);
      box.appendChild(link);
      select.value = "";
    });
  };

  const showAttendance = (entries) => {
    const letters = { absent: "Н", excused: "У", ill: "Б", late: "О" };
    entries.forEach((e) => {
      const was = document.querySelector(`input[name="was-${e.student_id}"]`);
      if (was) was.value = e.status;
      const select = document.getElementById(`att-${e.student_id}`);
      const cell = select && select.closest("td");
      const box = cell && cell.querySelector(".cell-att");
      if (box) {
        box.textContent = "";
        if (letters[e.status]) {
          const abbr = document.createElement("abbr");
          abbr.title = select.options[select.selectedIndex].text;
          abbr.textContent = letters[e.status];
          box.appendChild(abbr);
        }
      }
    });
  };

  const wire = (form) => {
    const key = form.querySelector("input[name='key']");
    const button = form.querySelector("button[type='submit']");
    let busy = false;
    const renew = () => { if (!busy) key.value = freshKey(); };
    Array.from(form.elements).forEach((el) => {
      if (el.type !== "hidden") el.addEventListener("change", renew);
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      event.stopImmediatePropagation();
      if (busy) return;
      busy = true;
      button.disabled = true;
      say(form, "Сохранение…", false);
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: { "X-Requested-With": "fetch", "Accept": "application/json" } })
        .then((response) => response.json().then((answer) => ({ response, answer })))
        .then(({ answer }) => {
          say(form, answer.message || "", !answer.ok);
          if (answer.ok) {
            if (answer.marks) showMarks(form, answer.marks);
            if (answer.entries) showAttendance(answer.entries);
            key.value = freshKey(); // saved: the next edit is a new write
          }
        })
        .catch(() => {
          // the answer was lost: the same key goes with the retry, so nothing posts twice
          say(form, "Нет ответа от сервера. Нажмите «Сохранить» ещё раз — повтор не создаст дубликат.", true);
        })
        .finally(() => {
          busy = false;
          button.disabled = false;
        });
    }, true);
  };

  // the column being edited in view inside the grid's box (a phone shows a few columns)
  const showEditing = () => {
    document.querySelectorAll(".grid-box").forEach((box) => {
      const column = box.querySelector("thead th.editing");
      if (column && column.offsetLeft + column.offsetWidth > box.clientWidth) {
        box.scrollLeft = column.offsetLeft + column.offsetWidth - box.clientWidth;
      }
    });
  };

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("form.js-save").forEach(wire);
    showEditing();
  });
})();
