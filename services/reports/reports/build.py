"""One report of any kind from reports' own projections: read and check the
parameters, decide the scope the caller may see, load what the kind's
builder needs, build it and add its printable layout. Shared by the nameko
RPC (JSON) and the gRPC document stream (JSON, PDF, XLSX)."""
from __future__ import annotations

import datetime as dt
import re

from kernel import config
from kernel.context import CallContext
from reports import domain, store
from reports.domain import kinds, layouts
from reports.domain.layouts import MONTHS_RU
from reports.errors import (
    ClassNotFound, NotAllowed, PeriodNotFound, SchoolReportsForAdministration, ValidationError, YearNotFound, text,
)

KINDS = ("class-fill", "student-finals", "attendance", "class-teacher", "progress", "progress-sheet",
         "attendance-sheet", "journal-monitoring", "user-activity", "forecast")
FORMATS = ("json", "pdf", "xlsx")
ADMINISTRATION = frozenset({"admin", "director", "deputy"})
# kinds that are about one class (class_id required) and kinds about a month
CLASS_KINDS = frozenset({"student-finals", "attendance", "class-teacher", "progress", "attendance-sheet"})
MONTH_KINDS = frozenset({"journal-monitoring", "user-activity"})
# kinds that may take a month instead of a period
MONTH_ALLOWED = MONTH_KINDS | {"attendance", "attendance-sheet", "class-fill"}
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
PARAMS = ("class_id", "period_id", "year_id", "month")
_timezone = None


def school_timezone() -> dt.tzinfo:
    """The school's time zone (``EJOURNAL_TIMEZONE``, kernel.config): the
    date of printing on a report's paper is local time."""
    global _timezone
    if _timezone is None:
        _timezone = config.load().timezone
    return _timezone


def read_params(kind, params) -> dict:
    """The kind and its parameters, checked: VALIDATION_ERROR names the field."""
    if kind not in KINDS:
        raise ValidationError(text("kind_unknown", kind=str(kind)[:40]), details={"field": "kind"})
    params = params if isinstance(params, dict) else {}
    out = {"kind": kind}
    for name in ("class_id", "period_id", "year_id"):
        value = params.get(name)
        out[name] = domain.require_id(value, name) if value not in (None, "") else None
    month = params.get("month")
    if month not in (None, ""):
        if not isinstance(month, str) or not _MONTH.fullmatch(month):
            raise ValidationError(text("month_invalid"), details={"field": "month"})
        out["month"] = month
    else:
        out["month"] = None
    if kind in CLASS_KINDS and out["class_id"] is None:
        raise _required("class_id")
    if kind in MONTH_KINDS and out["month"] is None:
        raise _required("month")
    if kind not in MONTH_KINDS and kind != "student-finals" and not (out["period_id"] or out["year_id"]) and \
            not (kind in MONTH_ALLOWED and out["month"]):
        raise _required("period_id")
    return out


def _required(field: str) -> ValidationError:
    return ValidationError(text("param_required", field=field), details={"field": field})


def title(report: dict) -> str:
    """What a report is, in words: ``Итоги успеваемости 5А 1 четверть``,
    ``… 5А 2026/2027`` (its file name is this without the characters a file
    name cannot hold)."""
    doc = report["document"]
    header = doc["header"]
    return " ".join(p for p in (doc["title"], header.get("class") or "", header.get("period") or "") if p)


def filename(report: dict, fmt: str) -> tuple[str, str]:
    """``(ascii, russian)`` file names of a report: ``progress-5A-2026-10.pdf``
    and ``Итоги успеваемости 5А 1 четверть.pdf``."""
    klass = report["document"]["header"].get("class") or ""
    span = report.get("month") or (report.get("period") or {}).get("starts_on") or ""
    ascii_name = "-".join(p for p in (report["kind"], _translit(klass), span[:7]) if p)
    russian = re.sub(r"[\\/:*?\"<>|\r\n]+", " ", title(report)).strip()
    return f"{ascii_name}.{fmt}", f"{russian}.{fmt}"


_TRANSLIT = dict(zip("абвгдеёжзийклмнопрстуфхцчшщъыьэюя",
                     ["a", "b", "v", "g", "d", "e", "e", "zh", "z", "i", "i", "k", "l", "m", "n", "o", "p", "r", "s",
                      "t", "u", "f", "kh", "ts", "ch", "sh", "shch", "", "y", "", "e", "yu", "ya"]))


def _translit(value: str) -> str:
    out = "".join(_TRANSLIT.get(ch.lower(), ch).upper() if ch.isupper() else _TRANSLIT.get(ch, ch) for ch in value)
    return re.sub(r"[^A-Za-z0-9]+", "", out)


class Builder:
    """Builds reports for one caller in one database session."""

    def __init__(self, session, who: CallContext, *, school_name: str, now: dt.datetime,
                 tz: dt.tzinfo | None = None):
        self.s = session
        self.tz = tz or school_timezone()
        self.who = who
        self.school_id = who.school_id
        self.school_name = school_name
        self.now = now
        self.admin = bool(ADMINISTRATION & who.roles)

    # -- scope ----------------------------------------------------------------
    def _class(self, class_id: str) -> dict:
        school_class = store.get_class(self.s, school_id=self.school_id, class_id=class_id)
        if school_class is None:
            raise ClassNotFound(details={"class_id": class_id})
        return school_class

    def _period(self, p: dict, school_class: dict | None = None) -> dict:
        """The period asked for: ``period_id`` (a period or a year), else
        ``year_id`` (the whole year), else the ``month``."""
        if p["period_id"] or p["year_id"]:
            ident = p["period_id"] or p["year_id"]
            period = store.get_period(self.s, school_id=self.school_id, period_id=ident)
            if period is None or (p["year_id"] and not p["period_id"] and period["kind"] != "year"):
                raise (PeriodNotFound if p["period_id"] else YearNotFound)(details={"period_id": ident})
            if school_class is not None:
                domain.check_report_scope(school_class, period, class_id=school_class["id"], period_id=ident)
            return period
        first, last = kinds.month_span(p["month"])
        year_id = school_class.get("year_id") if school_class else None
        return {"id": None, "name": f"{MONTHS_RU[first.month - 1]} {first.year}", "kind": "month",
                "year_id": year_id, "starts_on": first, "ends_on": last}

    def _classes(self, p: dict, period: dict) -> list[dict]:
        """The classes a report covers: the one asked for, or (administration
        only) every class of the period's year or of the years the month
        touches."""
        if p["class_id"]:
            return [self._class(p["class_id"])]
        if not self.admin:
            raise SchoolReportsForAdministration()
        year_ids = [period["year_id"]] if period.get("year_id") else store.years_covering(
            self.s, school_id=self.school_id, first=period["starts_on"], last=period["ends_on"])
        return store.school_classes(self.s, school_id=self.school_id, year_ids=year_ids)

    def _own_subjects(self, school_class: dict) -> set | None:
        """A plain teacher (not administration, not this class's class
        teacher) sees only the subjects they teach in the class; None: all."""
        if self.admin or school_class.get("class_teacher_id") == self.who.actor_id:
            return None
        return {a["subject_id"] for a in store.assignments_of(self.s, school_id=self.school_id,
                                                              class_ids=[school_class["id"]])
                if a["teacher_id"] == self.who.actor_id}

    def _subjects(self, class_id: str, period: dict) -> list[dict]:
        return store.class_subjects(self.s, school_id=self.school_id, class_id=class_id,
                                    starts_on=period["starts_on"], ends_on=period["ends_on"],
                                    period_id=period.get("id"))

    # -- kinds ------------------------------------------------------------------
    def build(self, kind, params) -> dict:
        p = read_params(kind, params)
        report = getattr(self, "_" + p["kind"].replace("-", "_"))(p)
        return layouts.with_document(report, school=self.school_name, tz=self.tz)

    def _progress_input(self, school_class: dict, period: dict) -> dict:
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        return {"class": school_class, "subjects": self._subjects(school_class["id"], period),
                "students": store.class_students(self.s, school_id=self.school_id, class_id=school_class["id"]),
                "marks": store.marks_of(self.s, school_id=self.school_id, class_ids=[school_class["id"]], **span),
                "finals": store.finals_of(self.s, school_id=self.school_id, class_ids=[school_class["id"]],
                                          period_ids=[period["id"]]) if period.get("id") else []}

    def _progress(self, p: dict) -> dict:
        school_class = self._class(p["class_id"])
        period = self._period(p, school_class)
        item = self._progress_input(school_class, period)
        report = domain.progress_report(school_class=school_class, period=period, subjects=item["subjects"],
                                        students=item["students"], marks=item["marks"], finals=item["finals"],
                                        generated_at=self.now)
        own = self._own_subjects(school_class)
        if own is not None:
            sheet = kinds.progress_sheet(period=period, classes=[{**item, "only_subjects": own}],
                                         generated_at=self.now)["classes"][0]
            keep = {s["id"] for s in sheet["subjects"]}
            report["subjects"] = [s for s in report["subjects"] if s["id"] in keep]
            for row in report["students"]:
                row["subjects"] = [c for c in row["subjects"] if c["subject_id"] in keep]
            report["summary"] = sheet["summary"]
            report["finals"] = domain.finals_coverage(report["students"])
        return report

    def _progress_sheet(self, p: dict) -> dict:
        """Every class of the sheet from a few queries, whatever its size: the
        marks come summed per student and subject (store.mark_sums: the one
        pass over the marks)."""
        school_class = self._class(p["class_id"]) if p["class_id"] else None
        period = self._period(p, school_class)
        classes = self._classes(p, period)
        ids = [c["id"] for c in classes]
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        # a school's sheet reads the school's marks of the span in one pass (the
        # period's dates hold no other year's marks) rather than by class
        sums = store.mark_sums(self.s, school_id=self.school_id, class_ids=ids if p["class_id"] else None, **span)
        sums = {c: sums.get(c, {}) for c in ids}
        subjects = store.school_subjects(
            self.s, school_id=self.school_id, class_ids=ids, period_id=period.get("id"),
            marked={c: {subject for _, subject in cells} for c, cells in sums.items()})
        students = store.school_students(self.s, school_id=self.school_id, class_ids=ids)
        finals: dict = {}
        if period.get("id"):
            for f in store.finals_of(self.s, school_id=self.school_id, class_ids=ids, period_ids=[period["id"]]):
                finals.setdefault(f["class_id"], []).append(f)
        items = []
        for c in classes:
            item = {"class": c, "subjects": subjects.get(c["id"], []), "students": students.get(c["id"], []),
                    "sums": sums.get(c["id"], {}), "finals": finals.get(c["id"], [])}
            own = self._own_subjects(c)
            if own is not None:
                item["only_subjects"] = own
            items.append(item)
        return kinds.progress_sheet(period=period, classes=items, generated_at=self.now)

    def _attendance_input(self, school_class: dict, period: dict) -> dict:
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        ids = [school_class["id"]]
        enrolments = store.enrolments_of(self.s, school_id=self.school_id, class_ids=ids)
        return {"school_class": school_class, "period": period, "enrolments": enrolments,
                "people": store.people_of(self.s, school_id=self.school_id, ids={e["student_id"] for e in enrolments}),
                "lessons": store.lessons_of(self.s, school_id=self.school_id, class_ids=ids, **span),
                "attendance": store.attendance_of(self.s, school_id=self.school_id, class_ids=ids, **span)}

    def _attendance(self, p: dict) -> dict:
        school_class = self._class(p["class_id"])
        period = self._period(p, school_class)
        data = self._attendance_input(school_class, period)
        corrections = store.corrections_of(self.s, school_id=self.school_id, class_ids=[school_class["id"]],
                                           first=period["starts_on"], last=period["ends_on"])
        return kinds.attendance(**data, corrections=corrections, generated_at=self.now)

    def _attendance_sheet(self, p: dict) -> dict:
        school_class = self._class(p["class_id"])
        period = self._period(p, school_class)
        data = self._attendance_input(school_class, period)
        subjects = self._subjects(school_class["id"], period)
        own = self._own_subjects(school_class)
        if own is not None:
            subjects = [{**s, "only": s["id"] in own} for s in subjects if s["id"] in own] or \
                [{"id": "-", "name": None, "assigned": False, "only": True}]
            data["lessons"] = [lesson for lesson in data["lessons"] if lesson["subject_id"] in own]
        return kinds.attendance_sheet(**data, subjects=subjects, generated_at=self.now)

    def _class_fill(self, p: dict) -> dict:
        school_class = self._class(p["class_id"]) if p["class_id"] else None
        period = self._period(p, school_class)
        classes = self._classes(p, period)
        ids = [c["id"] for c in classes]
        enrolments = store.enrolments_of(self.s, school_id=self.school_id, class_ids=ids)
        return kinds.class_fill(
            classes=classes, enrolments=enrolments,
            people=store.people_of(self.s, school_id=self.school_id, ids={e["student_id"] for e in enrolments}),
            movements=store.movements_of(self.s, school_id=self.school_id, first=period["starts_on"],
                                         last=period["ends_on"]),
            period=period, generated_at=self.now)

    def _student_finals(self, p: dict) -> dict:
        school_class = self._class(p["class_id"])
        year_id = school_class.get("year_id")
        if p["period_id"] or p["year_id"]:
            year_id = self._period(p, school_class)["year_id"]
        year = store.get_year(self.s, school_id=self.school_id, year_id=year_id) if year_id else None
        if year is None:
            raise YearNotFound(details={"year_id": year_id})
        periods = list(store.year_periods(self.s, school_id=self.school_id, year_ids=[year["id"]]).values())
        enrolments = store.enrolments_of(self.s, school_id=self.school_id, class_ids=[school_class["id"]])
        subjects = self._subjects(school_class["id"], {**year, "id": year["id"]})
        own = self._own_subjects(school_class)
        finals = store.finals_of(self.s, school_id=self.school_id, class_ids=[school_class["id"]])
        if own is not None:
            subjects = [s for s in subjects if s["id"] in own]
            finals = [f for f in finals if f["subject_id"] in own]
        return kinds.student_finals(
            school_class=school_class, year=year, periods=periods, subjects=subjects, enrolments=enrolments,
            people=store.people_of(self.s, school_id=self.school_id, ids={e["student_id"] for e in enrolments}),
            finals=finals, generated_at=self.now)

    def _class_teacher(self, p: dict) -> dict:
        school_class = self._class(p["class_id"])
        period = self._period(p, school_class)
        progress = self._progress({**p, "kind": "progress"})
        attendance = self._attendance(p)
        fill = self._class_fill(p)
        people = store.people_of(self.s, school_id=self.school_id,
                                 ids={school_class.get("class_teacher_id")} - {None})
        return kinds.class_teacher(school_class=school_class, period=period, progress=progress,
                                   attendance_report=attendance, fill=fill, people=people, generated_at=self.now)

    def _journal_monitoring(self, p: dict) -> dict:
        school_class = self._class(p["class_id"]) if p["class_id"] else None
        period = self._period({**p, "period_id": None, "year_id": None}, school_class)
        classes = self._classes(p, period)
        ids = [c["id"] for c in classes]
        year_ids = {c["year_id"] for c in classes if c.get("year_id")}
        periods = store.year_periods(self.s, school_id=self.school_id, year_ids=year_ids)
        # coverage counts lessons from the start of each plan's period
        since = min([q["starts_on"] for q in periods.values()] + [period["starts_on"]])
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        return kinds.journal_monitoring(
            month=p["month"], classes=classes,
            assignments=store.assignments_of(self.s, school_id=self.school_id, class_ids=ids),
            lessons=store.lessons_of(self.s, school_id=self.school_id, class_ids=ids, first=since,
                                     last=period["ends_on"]),
            mark_counts=store.month_mark_counts(self.s, school_id=self.school_id, class_ids=ids, **span),
            finals=store.finals_of(self.s, school_id=self.school_id, class_ids=ids),
            enrolments=store.enrolments_of(self.s, school_id=self.school_id, class_ids=ids),
            people=store.people_of(self.s, school_id=self.school_id),
            plans=store.plans_of(self.s, school_id=self.school_id, class_ids=ids), periods=periods,
            parent_links=store.parent_links_of(self.s, school_id=self.school_id),
            access=store.access_of(self.s, school_id=self.school_id, **span), generated_at=self.now)

    def _user_activity(self, p: dict) -> dict:
        school_class = self._class(p["class_id"]) if p["class_id"] else None
        period = self._period({**p, "period_id": None, "year_id": None}, school_class)
        if school_class is None and not self.admin:
            raise SchoolReportsForAdministration()
        year_ids = store.years_covering(self.s, school_id=self.school_id, first=period["starts_on"],
                                        last=period["ends_on"])
        classes = store.school_classes(self.s, school_id=self.school_id, year_ids=year_ids)
        if school_class is not None and school_class["id"] not in {c["id"] for c in classes}:
            classes.append(school_class)
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        return kinds.user_activity(
            month=p["month"], people=store.people_of(self.s, school_id=self.school_id),
            access=store.access_of(self.s, school_id=self.school_id, **span), classes=classes,
            enrolments=store.enrolments_of(self.s, school_id=self.school_id, class_ids=[c["id"] for c in classes]),
            parent_links=store.parent_links_of(self.s, school_id=self.school_id),
            class_id=school_class["id"] if school_class else None, generated_at=self.now)

    def _forecast(self, p: dict) -> dict:
        school_class = self._class(p["class_id"]) if p["class_id"] else None
        period = self._period(p, school_class)
        classes = self._classes(p, period)
        ids = [c["id"] for c in classes]
        items = []
        for c in classes:
            item = {"class": c, "students": store.class_students(self.s, school_id=self.school_id, class_id=c["id"])}
            own = self._own_subjects(c)
            if own is not None:
                item["only_subjects"] = own
            items.append(item)
        span = {"first": period["starts_on"], "last": period["ends_on"]}
        # the school's average: every class of the same year(s)
        year_ids = {c["year_id"] for c in classes if c.get("year_id")}
        school_ids = [c["id"] for c in store.school_classes(self.s, school_id=self.school_id, year_ids=year_ids)]
        subjects = store.subjects_of(self.s, school_id=self.school_id)
        return kinds.forecast(
            period=period, classes=items,
            assignments=store.assignments_of(self.s, school_id=self.school_id, class_ids=ids),
            people=store.people_of(self.s, school_id=self.school_id), subjects=list(subjects.values()),
            marks=store.marks_of(self.s, school_id=self.school_id, class_ids=ids, **span),
            school_marks=store.marks_of(self.s, school_id=self.school_id, class_ids=school_ids, **span),
            generated_at=self.now)


def read_week(value, today: dt.date) -> dt.date:
    """A day of the week asked for (``YYYY-MM-DD``; empty: ``today``);
    VALIDATION_ERROR naming ``week`` otherwise."""
    if value in (None, ""):
        return today
    try:
        if not isinstance(value, str) or not _DAY.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise ValidationError(text("week_invalid"), details={"field": "week"}) from None


def parents_activity(session, who: CallContext, *, class_id, week, today: dt.date) -> dict:
    """R-A6: the parents of ``class_id`` and their use of the system in the
    ISO week of ``week`` (kinds.parents_activity). The class's class
    teacher and the administration only: to anyone else the class does not
    exist (NOT_FOUND)."""
    class_id = domain.require_id(class_id, "class_id")
    day = read_week(week, today)
    school_class = store.get_class(session, school_id=who.school_id, class_id=class_id)
    if school_class is None or not (ADMINISTRATION & who.roles or
                                    school_class.get("class_teacher_id") == who.actor_id):
        raise ClassNotFound(details={"class_id": class_id})
    first, last = kinds.week_span(day)
    enrolments = store.enrolments_of(session, school_id=who.school_id, class_ids=[class_id])
    links = store.parent_links_of(session, school_id=who.school_id)
    pupils = {e["student_id"] for e in enrolments}
    links = [link for link in links if link["student_id"] in pupils]
    ids = pupils | {link["parent_id"] for link in links}
    return kinds.parents_activity(
        school_class=school_class, week=day, enrolments=enrolments, parent_links=links,
        people=store.people_of(session, school_id=who.school_id, ids=ids),
        access=store.access_of(session, school_id=who.school_id, first=first, last=last))


def require_caller(ctx) -> CallContext:
    """The caller, staff only (FORBIDDEN for a parent or a student)."""
    who = domain.require_staff(ctx)
    if not who.school_id:
        raise NotAllowed()
    return who
