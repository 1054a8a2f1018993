"""The printable layout of each report kind (:mod:`reports.domain.document`):
a report dict in, its ``document`` out, with the same numbers as the JSON.
Titles are the school's paper forms' names; summary sheets are landscape."""
from __future__ import annotations

import datetime as dt

from reports.domain import document as d

BASIS_RU = {"final_marks": "итоговые отметки за период",
            "current_averages": "текущие средневзвешенные отметки (итоговые не выставлены)",
            "mixed": "итоговые отметки, где выставлены, иначе текущие средневзвешенные"}
SOURCE_RU = {"final": "итоговая", "average": "по среднему"}
STATUS_NOTE = ("Уважительные пропуски: по болезни и по уважительной причине; неуважительные: «отсутствовал».")


def _class(report: dict) -> str | None:
    c = report.get("class")
    return c.get("name") if c else None


# indicator tables: a count column and a share column, so each prints (and
# sits in the spreadsheet) as what it is: 2 and 66,7%, never 66,70
INDICATOR_COLUMNS = [d.column("indicator", "Показатель"), d.column("value", "Количество", "int"),
                     d.column("share", "Доля", "percent")]


def _indicator(title: str, value=None, share=None) -> dict:
    return {"indicator": title, "value": value, "share": share}


def _progress_summary_table(summary: dict) -> dict:
    rows = [
        _indicator("Учащихся", summary["students"]),
        _indicator("Успеваемость", share=summary["pass_rate"]),
        _indicator("Качество знаний", share=summary["quality"]),
        _indicator("Отличники", summary["excellent"]),
        _indicator("С одной «3»", summary["with_one_3"]),
        _indicator("Неуспевающие", summary["failing"]),
        _indicator("Без отметок", summary["without_marks"]),
    ]
    return d.table(INDICATOR_COLUMNS, rows)


def _progress_chart(summary: dict, title: str = "Итоги успеваемости") -> dict:
    labels = ["Отличники", "С одной «3»", "Неуспевающие", "Без отметок"]
    return d.bar_chart(title, labels, [("Учащихся", [summary["excellent"], summary["with_one_3"],
                                                     summary["failing"], summary["without_marks"]])])


def progress(report: dict, *, school: str) -> dict:
    names = {s["id"]: s["name"] or "" for s in report["subjects"]}
    cols = [d.column("n", "№", "int"), d.column("student", "Учащийся")]
    cols += [d.column(s["id"], names[s["id"]], "int") for s in report["subjects"]]
    cols += [d.column("average", "Средний балл", "number")]
    rows = []
    for i, row in enumerate(report["students"], 1):
        cells = {c["subject_id"]: c["counted"] for c in row["subjects"]}
        rows.append({"n": i, "student": row["full_name"], **cells, "average": row["average"]})
    return d.document(
        title="Итоги успеваемости класса", subtitle=f"Основание: {BASIS_RU[report['basis']]}",
        orientation=d.LANDSCAPE if len(report["subjects"]) > 6 else d.PORTRAIT, school=school,
        class_name=_class(report), period=d.period_label(report["period"]), printed_at=report["generated_at"],
        sections=[d.section("Отметки", table=d.table(cols, rows)),
                  d.section("Итоги", table=_progress_summary_table(report["summary"]),
                            chart=_progress_chart(report["summary"]),
                            note=f"Итоговые отметки выставлены: {report['finals']['posted']}, "
                                 f"не выставлены: {report['finals']['missing']}.")],
        signatures=[d.CLASS_TEACHER, d.DEPUTY])


def progress_sheet(report: dict, *, school: str) -> dict:
    sections = []
    for c in report["classes"]:
        cols = [d.column("n", "№", "int"), d.column("student", "Учащийся")]
        cols += [d.column(s["id"], s["name"] or "", "int") for s in c["subjects"]]
        cols += [d.column("average", "Средний балл", "number")]
        rows = []
        averaged = 0
        for i, row in enumerate(c["students"], 1):
            cells = {cell["subject_id"]: cell["mark"] for cell in row["subjects"]}
            averaged += sum(1 for cell in row["subjects"] if cell["source"] == "average")
            rows.append({"n": i, "student": row["full_name"], **cells, "average": row["average"]})
        s = c["summary"]
        note = (f"Основание: {BASIS_RU[c['basis']]}. Отметок по среднему: {averaged}. "
                f"Успеваемость {_pct(s['pass_rate'])}, качество {_pct(s['quality'])}, отличники {s['excellent']}, "
                f"с одной «3» {s['with_one_3']}, неуспевающие {s['failing']}.")
        sections.append(d.section(f"Класс {c['class']['name']}", table=d.table(cols, rows), note=note))
    totals_cols = [d.column("class", "Класс"), d.column("students", "Учащихся", "int"),
                   d.column("pass_rate", "Успеваемость", "percent"), d.column("quality", "Качество", "percent"),
                   d.column("excellent", "Отличники", "int"), d.column("with_one_3", "С одной «3»", "int"),
                   d.column("failing", "Неуспевающие", "int"), d.column("without_marks", "Без отметок", "int")]
    totals_rows = [{"class": c["class"]["name"], **c["summary"]} for c in report["classes"]]
    sections.append(d.section("Итого по классам", table=d.table(totals_cols, totals_rows,
                                                                {"class": "Всего", **report["summary"]})))
    only = report["classes"][0]["class"]["name"] if len(report["classes"]) == 1 else None
    return d.document(title="Сводная ведомость учёта успеваемости обучающихся",
                      subtitle=f"Основание: {BASIS_RU[report['basis']]}", orientation=d.LANDSCAPE, school=school,
                      class_name=only, period=d.period_label(report["period"]), printed_at=report["generated_at"],
                      sections=sections, signatures=[d.CLASS_TEACHER, d.DEPUTY])


def _pct(value) -> str:
    return "—" if value is None else f"{value:g}%"


def attendance(report: dict, *, school: str) -> dict:
    cols = [d.column("n", "№", "int"), d.column("student", "Учащийся"), d.column("lessons", "Уроков", "int"),
            d.column("missed", "Пропущено", "int"), d.column("excused", "Уважительно", "int"),
            d.column("unexcused", "Неуважительно", "int"), d.column("late", "Опоздания", "int"),
            d.column("missed_share", "Пропущено, %", "percent")]
    rows = [{"n": i, "student": r["full_name"], **r} for i, r in enumerate(report["students"], 1)]
    weeks = report["weeks"]
    chart = d.bar_chart("Пропуски по неделям", [w["week_of"] for w in weeks],
                        [("Уважительные", [w["excused"] for w in weeks]),
                         ("Неуважительные", [w["unexcused"] for w in weeks])])
    return d.document(title="Отчёт о посещаемости", school=school, class_name=_class(report),
                      period=d.period_label(report["period"]), printed_at=report["generated_at"],
                      sections=[d.section(None, table=d.table(cols, rows, {"student": "Итого", **report["totals"]}),
                                          note=f"{STATUS_NOTE} Исправлено записей: {report['corrections']}."),
                                d.section("Пропуски по неделям", chart=chart)],
                      signatures=[d.CLASS_TEACHER])


def attendance_sheet(report: dict, *, school: str) -> dict:
    cols = [d.column("n", "№", "int"), d.column("student", "Учащийся")]
    cols += [d.column(s["id"], s["name"] or "", "int") for s in report["subjects"]]
    cols += [d.column("missed", "Всего", "int"), d.column("excused", "Уважит.", "int")]
    rows = []
    for i, r in enumerate(report["students"], 1):
        rows.append({"n": i, "student": r["full_name"], **{c["subject_id"]: c["missed"] for c in r["subjects"]},
                     "missed": r["missed"], "excused": r["excused"]})
    totals = {"student": "Итого", **{t["subject_id"]: t["missed"] for t in report["subject_totals"]},
              "missed": report["totals"]["missed"], "excused": report["totals"]["excused"]}
    return d.document(title="Сводная ведомость учёта посещаемости обучающихся", orientation=d.LANDSCAPE,
                      school=school, class_name=_class(report), period=d.period_label(report["period"]),
                      printed_at=report["generated_at"],
                      sections=[d.section(None, table=d.table(cols, rows, totals),
                                          note="В ячейке: пропущено уроков по предмету. " + STATUS_NOTE)],
                      signatures=[d.CLASS_TEACHER, d.DEPUTY])


FILL_COLUMNS = [("class", "Класс", "text"), ("at_start", "На начало", "int"), ("admitted", "Прибыло", "int"),
                ("transferred_in", "Переведено в класс", "int"), ("transferred_out", "Переведено из класса", "int"),
                ("left", "Выбыло", "int"), ("graduated", "Выпущено", "int"), ("at_end", "На конец", "int"),
                ("boys", "Мальчиков", "int"), ("girls", "Девочек", "int")]
MOVE_COLUMNS = [d.column("date", "Дата", "date"), d.column("student", "Учащийся"), d.column("movement", "Движение"),
                d.column("from_class", "Из класса"), d.column("to_class", "В класс"),
                d.column("order_no", "Приказ")]


def class_fill(report: dict, *, school: str) -> dict:
    classes, totals = report["classes"], report["totals"]
    unknown = totals.get("sex_unknown", 0)
    cols = [d.column(*c) for c in FILL_COLUMNS] + ([d.column("sex_unknown", "Пол не указан", "int")] if unknown else [])
    chart, note = _fill_chart(classes, totals), None
    if unknown:
        note = (f"Пол не указан у {unknown} {_pupils_word(unknown)} из {totals['at_end']}"
                + ("; диаграмма по числу учащихся." if unknown == totals["at_end"] else "."))
    return d.document(title="Наполняемость классов", orientation=d.LANDSCAPE, school=school,
                      class_name=classes[0]["class"] if len(classes) == 1 else None,
                      period=d.period_label(report["period"]), printed_at=report["generated_at"],
                      sections=[d.section(None, table=d.table(cols, classes, {"class": "Всего", **totals}),
                                          chart=chart, note=note),
                                d.section("Движение учащихся", table=d.table(MOVE_COLUMNS, report["movements"]),
                                          note=None if report["movements"] else "Движения не было.")],
                      signatures=[d.DEPUTY])


def _fill_chart(classes: list[dict], totals: dict) -> dict | None:
    """Students on the last day per class by sex, with those whose sex is not
    recorded as a bar of their own; by count alone when no sex is recorded,
    none when the classes are empty."""
    if not totals["at_end"]:
        return None
    title = "Учащихся на конец периода"
    if not totals["boys"] and not totals["girls"]:
        return d.bar_chart(title, [c["class"] for c in classes], [("Учащихся", [c["at_end"] for c in classes])])
    series = [("Мальчики", [c["boys"] for c in classes]), ("Девочки", [c["girls"] for c in classes])]
    if totals.get("sex_unknown"):
        series.append(("Пол не указан", [c.get("sex_unknown", 0) for c in classes]))
    return d.bar_chart(title, [c["class"] for c in classes], series)


def _pupils_word(n: int) -> str:
    """учащегося / учащихся after «у N … из M» (genitive: 1, 21 -> учащегося)."""
    return "учащегося" if n % 10 == 1 and n % 100 != 11 else "учащихся"


def student_finals(report: dict, *, school: str) -> dict:
    periods = report["periods"]
    names = {s["id"]: s["name"] for s in report["subjects"]}
    cols = [d.column("student", "Учащийся"), d.column("subject", "Предмет")]
    cols += [d.column(p["id"], p["name"] or "", "int") for p in periods]
    rows = []
    for s in report["students"]:
        for i, cell in enumerate(s["subjects"]):
            rows.append({"student": s["full_name"] if i == 0 else None, "subject": names.get(cell["subject_id"]),
                         **cell["finals"]})
    dist_cols = [d.column("period", "Период")] + [d.column(k, f"«{k}»", "int") for k in ("5", "4", "3", "2")] + \
        [d.column("missing", "Не выставлено", "int")]
    by_id = {p["id"]: p["name"] for p in periods}
    dist = [{"period": by_id[r["period_id"]], **r} for r in report["distribution"]]
    return d.document(title="Итоговые данные по обучающимся", subtitle=report["year"]["name"],
                      orientation=d.LANDSCAPE, school=school, class_name=_class(report),
                      period=report["year"]["name"], printed_at=report["generated_at"],
                      sections=[d.section(None, table=d.table(cols, rows)),
                                d.section("Итоговые отметки по периодам", table=d.table(dist_cols, dist))],
                      signatures=[d.CLASS_TEACHER])


def class_teacher(report: dict, *, school: str) -> dict:
    m, p, a = report["movement"], report["progress"], report["attendance"]
    kv = [d.column("indicator", "Показатель"), d.column("value", "Значение", "int")]
    movement = [{"indicator": t, "value": m[k]} for k, t in (
        ("at_start", "Учащихся на начало периода"), ("came", "Прибыло"), ("went", "Выбыло"),
        ("at_end", "Учащихся на конец периода"), ("boys", "Мальчиков"), ("girls", "Девочек"))]
    attend = [_indicator(t, a[k]) for k, t in (
        ("lessons", "Уроков (ученико-уроков)"), ("missed", "Пропущено уроков"), ("excused", "По уважительной причине"),
        ("unexcused", "Без уважительной причины"), ("late", "Опозданий"))]
    attend.append(_indicator("Пропущено", share=a["missed_share"]))
    people_cols = [d.column("student", "Учащийся"), d.column("subjects", "Предметы")]

    def listed(items):
        return d.table(people_cols, [{"student": i["full_name"], "subjects": ", ".join(x or "" for x in
                                                                                     i.get("subjects", []))}
                                     for i in items])
    ct = report["class_teacher"]["full_name"]
    return d.document(title="Отчёт классного руководителя", subtitle=f"Классный руководитель: {ct}" if ct else None,
                      school=school, class_name=_class(report), period=d.period_label(report["period"]),
                      printed_at=report["generated_at"],
                      sections=[d.section("Движение учащихся", table=d.table(kv, movement)),
                                d.section("Успеваемость", table=_progress_summary_table(p),
                                          chart=_progress_chart(p), note=f"Основание: {BASIS_RU[report['basis']]}."),
                                d.section("Посещаемость", table=d.table(INDICATOR_COLUMNS, attend)),
                                d.section("Отличники", table=listed(report["excellent"])),
                                d.section("С одной «3»", table=listed(report["with_one_3"])),
                                d.section("Неуспевающие", table=listed(report["failing"]))],
                      signatures=[d.CLASS_TEACHER])


def journal_monitoring(report: dict, *, school: str) -> dict:
    s = report["summary"]
    cols = [d.column("indicator", "Показатель"), d.column("value", "Количество", "int"),
            d.column("share", "Доля", "percent")]
    rows = [
        {"indicator": "Учителей, ведущих журнал (из назначенных)", "value": s["teachers_taking_part"],
         "share": s["teachers_share"]},
        {"indicator": "Учащихся без отметок", "value": s["no_marks"], "share": s["no_marks_share"]},
        {"indicator": "Учащихся с одной отметкой", "value": s["one_mark"], "share": s["one_mark_share"]},
        {"indicator": "Уроков с домашним заданием", "value": s["homework"], "share": s["homework_share"]},
        {"indicator": "Прохождение программы (уроков к часам КТП)", "value": s["given_hours"], "share": s["coverage"]},
        {"indicator": "Несвоевременных записей (после дня урока)", "value": s["late"], "share": s["late_share"]},
        {"indicator": "из них позже 3 дней", "value": s["overdue"], "share": None},
        {"indicator": "Итоговых отметок, выставленных с опозданием", "value": s["late_finals"], "share": None},
        {"indicator": "Родителей, работавших в системе", "value": s["parents_active"], "share": s["parents_share"]},
        {"indicator": "Учащихся, работавших в системе", "value": s["students_active"], "share": s["students_share"]},
        {"indicator": "Уроков, перенесённых с бумажного журнала (учтены отдельно)", "value": s["imported"],
         "share": None},
    ]
    class_cols = [d.column("class", "Класс"), d.column("lessons", "Уроков", "int"),
                  d.column("homework_share", "С д/з", "percent"), d.column("late", "Несвоевр.", "int"),
                  d.column("overdue", "Позже 3 дней", "int"), d.column("imported", "С бумаги", "int"),
                  d.column("no_marks_share", "Без отметок", "percent"),
                  d.column("one_mark_share", "Одна отметка", "percent"), d.column("coverage", "Программа", "percent"),
                  d.column("parents_share", "Родители", "percent"), d.column("students_share", "Учащиеся", "percent")]
    teacher_cols = [d.column("teacher", "Учитель"), d.column("lessons", "Уроков", "int"),
                    d.column("with_homework", "С д/з", "int"), d.column("late", "Несвоевр.", "int"),
                    d.column("overdue", "Позже 3 дней", "int"), d.column("late_finals", "Итоговые с опозд.", "int")]
    return d.document(title="Мониторинг ведения электронного журнала", subtitle=f"за {_month_ru(report['month'])}",
                      orientation=d.LANDSCAPE, school=school, class_name=None,
                      period=_month_ru(report["month"]), printed_at=report["generated_at"],
                      sections=[d.section("Сводные показатели", table=d.table(cols, rows)),
                                d.section("По классам", table=d.table(class_cols, report["classes"])),
                                d.section("По учителям", table=d.table(teacher_cols, report["teachers"]))],
                      signatures=[d.DEPUTY])


MONTHS_RU = ("январь", "февраль", "март", "апрель", "май", "июнь", "июль", "август", "сентябрь", "октябрь",
             "ноябрь", "декабрь")


def _month_ru(month: str) -> str:
    year, number = month.split("-")
    return f"{MONTHS_RU[int(number) - 1]} {year}"


def user_activity(report: dict, *, school: str) -> dict:
    user_cols = [d.column("full_name", "Пользователь"), d.column("roles", "Роли"), d.column("classes", "Класс"),
                 d.column("days", "Дней", "int"), d.column("logins", "Входов", "int"),
                 d.column("actions", "Действий", "int")]
    from reports.domain.kinds import LOGIN_ROLES_RU
    users = [{**u, "roles": ", ".join(LOGIN_ROLES_RU.get(r, r) for r in u["roles"]), "classes": ", ".join(u["classes"])}
             for u in report["users"]]
    role_cols = [d.column("title", "Роль"), d.column("users", "Пользователей", "int"),
                 d.column("active", "Активных", "int"), d.column("logins", "Входов", "int"),
                 d.column("actions", "Действий", "int")]
    class_cols = [d.column("class", "Класс"), d.column("students", "Учащихся", "int"),
                  d.column("students_active", "Активных учащихся", "int"), d.column("parents", "Родителей", "int"),
                  d.column("parents_active", "Активных родителей", "int"), d.column("logins", "Входов", "int"),
                  d.column("actions", "Действий", "int")]
    return d.document(title="Отчёт об активности пользователей", subtitle=f"за {_month_ru(report['month'])}",
                      school=school, class_name=_class(report), period=_month_ru(report["month"]),
                      printed_at=report["generated_at"],
                      sections=[d.section("По ролям", table=d.table(role_cols, report["roles"]),
                                          chart=d.bar_chart("Действий по ролям", [r["title"] for r in report["roles"]],
                                                            [("Действий", [r["actions"] for r in report["roles"]])])),
                                d.section("По классам", table=d.table(class_cols, report["classes"])),
                                d.section("По пользователям", table=d.table(user_cols, users,
                                                                            {"full_name": "Итого",
                                                                             "logins": report["totals"]["logins"],
                                                                             "actions": report["totals"]["actions"]}))],
                      signatures=[d.DEPUTY])


def forecast(report: dict, *, school: str) -> dict:
    cols = [d.column("teacher", "Учитель"), d.column("class", "Класс"), d.column("subject", "Предмет"),
            d.column("marks", "Отметок", "int"), *[d.column(f"marks_{v}", f"«{v}»", "int") for v in (5, 4, 3, 2)],
            d.column("average", "Средний балл", "number"), d.column("school_average", "По школе", "number"),
            d.column("difference", "Разница", "number"), d.column("written_share", "Письм. работ", "percent")]
    fcols = [d.column("teacher", "Учитель"), d.column("class", "Класс"), d.column("subject", "Предмет"),
             d.column("students", "Учащихся", "int"),
             *[d.column(f"forecast_{v}", f"Прогноз «{v}»", "int") for v in (5, 4, 3, 2)],
             d.column("forecast_pass_rate", "Успеваемость", "percent"),
             d.column("forecast_quality", "Качество", "percent")]
    rows = report["rows"]
    labels = [f"{r['class']} {r['subject'] or ''}".strip() for r in rows]
    chart = d.bar_chart("Средний балл: класс и школа", labels,
                        [("Класс", [r["average"] for r in rows]), ("Школа", [r["school_average"] for r in rows])])
    classes = {r["class"] for r in rows}
    return d.document(title="Аналитика по предметам и прогноз итоговых отметок", orientation=d.LANDSCAPE,
                      school=school, class_name=classes.pop() if len(classes) == 1 else None,
                      period=d.period_label(report["period"]), printed_at=report["generated_at"],
                      sections=[d.section("Распределение отметок", table=d.table(cols, rows), chart=chart),
                                d.section("Прогноз итоговых отметок", table=d.table(fcols, rows),
                                          note="Прогноз: средневзвешенная отметка ученика, округлённая по правилу "
                                               "школы (0,5 вверх; «1» считается «2»).")],
                      signatures=[d.DEPUTY])


LAYOUTS = {
    "class-fill": class_fill, "student-finals": student_finals, "attendance": attendance,
    "class-teacher": class_teacher, "progress": progress, "progress-sheet": progress_sheet,
    "attendance-sheet": attendance_sheet, "journal-monitoring": journal_monitoring,
    "user-activity": user_activity, "forecast": forecast,
}


def with_document(report: dict, *, school: str, tz: dt.tzinfo | None = None) -> dict:
    """The report with its printable layout under ``"document"``; the date
    of printing in the school's time zone ``tz`` (the report's
    ``generated_at`` stays UTC)."""
    document = LAYOUTS[report["kind"]](report, school=school)
    if tz is not None:
        document["header"]["printed_at"] = local_moment(document["header"].get("printed_at"), tz)
    return {**report, "document": document}


def local_moment(value: str | None, tz: dt.tzinfo) -> str | None:
    """An ISO moment (UTC) as the same moment in ``tz``, ISO with its offset."""
    if not value:
        return value
    moment = dt.datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.astimezone(tz).isoformat()
