// The portal page: log in, show the profile, a week of the diary and the
// notifications. Plain DOM with textContent only (never innerHTML), so data
// from the API can never become markup.
"use strict";

const API = "/api/v1";
const TOKEN_KEY = "ejournal.access_token";
const ROLE_NAMES = {
  admin: "администратор", director: "директор", deputy: "завуч", class_teacher: "классный руководитель",
  teacher: "учитель", secretary: "секретарь", news_editor: "редактор новостей",
  scheduler: "диспетчер расписания", student: "ученик", parent: "родитель",
};
const ATTENDANCE = {
  present: "присутствовал(а)", absent: "отсутствовал(а)", excused: "уважительная причина",
  ill: "болел(а)", late: "опоздал(а)",
};

// monday null: the diary's default week (the current one, or the latest with
// lessons when the current one has none yet), which the answer names.
const state = { me: null, studentId: null, monday: null };
const $ = (id) => document.getElementById(id);

function mondayOf(day) {
  const d = new Date(day.getFullYear(), day.getMonth(), day.getDate());
  d.setDate(d.getDate() - ((d.getDay() + 6) % 7));
  return d;
}
function addDays(day, n) { const d = new Date(day); d.setDate(d.getDate() + n); return d; }
function iso(day) {
  const pad = (n) => String(n).padStart(2, "0");
  return `${day.getFullYear()}-${pad(day.getMonth() + 1)}-${pad(day.getDate())}`;
}
function ru(isoDate) { const [y, m, d] = isoDate.split("-"); return `${d}.${m}.${y}`; }

function el(tag, text, className) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (className) node.className = className;
  return node;
}

function showError(message) {
  const box = $("error");
  box.textContent = message || "";
  box.hidden = !message;
}

async function call(path, options = {}) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(API + path, {
    method: options.method || "GET", headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (response.status === 401 && token) { logout(); }
  if (!response.ok) throw new Error((data && data.message) || `Ошибка ${response.status}`);
  return data;
}

async function login(event) {
  event.preventDefault();
  showError("");
  const form = event.target;
  try {
    const tokens = await call("/auth/login", {
      method: "POST", body: { login: form.login.value, password: form.password.value },
    });
    sessionStorage.setItem(TOKEN_KEY, tokens.access_token);
    form.reset();
    await start();
  } catch (e) { showError(e.message); }
}

function logout() {
  sessionStorage.removeItem(TOKEN_KEY);
  state.me = null;
  state.studentId = null;
  state.monday = null;
  for (const id of ["profile-section", "diary-section", "notifications-section", "logout"]) $(id).hidden = true;
  $("login-section").hidden = false;
}

function renderProfile(me) {
  $("profile-name").textContent = me.full_name;
  $("profile-login").textContent = me.login;
  $("profile-roles").textContent = me.roles.map((r) => ROLE_NAMES[r] || r).join(", ");
  $("profile-section").hidden = false;
}

function setupDiary(me) {
  const picker = $("child");
  picker.replaceChildren();
  if (me.roles.includes("parent") && me.children.length) {
    for (const child of me.children) {
      const option = el("option", child.full_name);
      option.value = child.id;
      picker.append(option);
    }
    $("child-picker").hidden = me.children.length < 2;
    state.studentId = me.children[0].id;
  } else if (me.roles.includes("student")) {
    state.studentId = me.id;
  }
  $("diary-section").hidden = !state.studentId;
}

async function loadDiary() {
  if (!state.studentId) return;
  const asked = state.monday;
  const range = asked ? `?from=${iso(asked)}&to=${iso(addDays(asked, 6))}` : "";
  $("week").textContent = asked ? `${ru(iso(asked))} – ${ru(iso(addDays(asked, 6)))}` : "";
  const box = $("diary");
  box.replaceChildren(el("p", "Загрузка…", "muted"));
  try {
    const diary = await call(`/students/${encodeURIComponent(state.studentId)}/diary${range}`);
    if (state.monday !== asked) return;  // another week was asked for meanwhile
    state.monday = new Date(`${diary.from}T00:00:00`);
    $("week").textContent = `${ru(diary.from)} – ${ru(diary.to)}`;
    box.replaceChildren();
    if (!asked && iso(state.monday) !== iso(mondayOf(new Date()))) {
      box.append(el("p", "На текущей неделе записей пока нет: показана последняя неделя с записями.", "muted"));
    }
    if (!diary.days.length) { box.append(el("p", "На этой неделе записей нет.", "muted")); return; }
    for (const day of diary.days) {
      const section = el("div", null, "day");
      section.append(el("h3", ru(day.date)));
      const table = el("table");
      const head = el("tr");
      for (const title of ["Предмет", "Тема", "Домашнее задание", "Отметки", "Посещаемость"]) head.append(el("th", title));
      table.append(head);
      for (const lesson of day.lessons) {
        const row = el("tr");
        row.append(el("td", lesson.subject), el("td", lesson.topic), el("td", lesson.homework));
        const marks = el("td");
        for (const mark of lesson.marks) {
          const badge = el("span", mark.value, "mark");
          badge.title = [mark.kind, mark.comment].filter(Boolean).join(": ");
          marks.append(badge);
        }
        row.append(marks, el("td", lesson.attendance ? (ATTENDANCE[lesson.attendance] || lesson.attendance) : ""));
        table.append(row);
      }
      section.append(table);
      box.append(section);
    }
  } catch (e) { box.replaceChildren(el("p", e.message, "error")); }
}

async function loadNotifications() {
  const list = $("notifications");
  try {
    const page = await call("/notifications?limit=20");
    list.replaceChildren();
    if (!page.items.length) list.append(el("li", "Новых уведомлений нет.", "muted"));
    for (const item of page.items) {
      const li = el("li");
      li.append(el("strong", item.title), document.createTextNode(" "), el("span", item.body));
      if (item.created_at) li.append(el("div", new Date(item.created_at).toLocaleString("ru-RU"), "muted"));
      list.append(li);
    }
  } catch (e) { list.replaceChildren(el("li", e.message, "error")); }
  $("notifications-section").hidden = false;
}

async function start() {
  if (!sessionStorage.getItem(TOKEN_KEY)) { logout(); return; }
  try {
    state.me = await call("/me");
  } catch (e) { showError(e.message); return; }
  $("login-section").hidden = true;
  $("logout").hidden = false;
  renderProfile(state.me);
  setupDiary(state.me);
  await Promise.all([loadDiary(), loadNotifications()]);
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", logout);
  $("child").addEventListener("change", (e) => { state.studentId = e.target.value; state.monday = null; loadDiary(); });
  const step = (days) => () => { if (state.monday) { state.monday = addDays(state.monday, days); loadDiary(); } };
  $("prev-week").addEventListener("click", step(-7));
  $("next-week").addEventListener("click", step(7));
  start();
});
