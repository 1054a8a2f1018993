"""The fault suite's school and its careful client.

The client posts marks as a careful client would: every
``PUT /lessons/{id}/marks`` request has its own Idempotency-Key, a request
that failed in transit (no answer, 5xx, 429) is sent again with the SAME
key after a short backoff, a bounded number of times within a bounded
time. Every mark carries a comment of its own (its tag), so the journal,
the notifications and the projection can be counted per mark afterwards.
One request in ``REFUSED_EVERY`` also names a student outside the class:
the journal must refuse it whole (422) and store none of its marks."""
from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
import uuid
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import requests

from localrun.client import Api

PASSWORD = "faults-Password-2026"
REFUSED_EVERY = 25
RETRY_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class School:
    base: str
    admin: Api
    teacher: Api
    lessons: list            # [{id, class_id, subject_id, students: [ids]}]
    parents: dict            # student id -> parent id
    classes: list
    subjects: list


def make_school(base: str, env: dict, classes: int = 2, subjects: int = 2, students: int = 8,
                lessons_each: int = 2) -> School:
    """A year, ``subjects`` subjects, ``classes`` classes of ``students``
    students each with a consenting parent, one teacher teaching every
    subject everywhere and ``lessons_each`` lessons per class and subject."""
    admin = Api(base).login(env["EJOURNAL_ADMIN_LOGIN"], env["EJOURNAL_ADMIN_PASSWORD"])
    today = dt.datetime.now(ZoneInfo("Europe/Moscow")).date()
    start, end = today - dt.timedelta(days=60), today + dt.timedelta(days=200)
    year = admin.post("/years", {"name": "Год отказов", "starts_on": start.isoformat(), "ends_on": end.isoformat(),
                                 "periods": [{"name": "1 полугодие", "kind": "half_year",
                                              "starts_on": start.isoformat(),
                                              "ends_on": (today + dt.timedelta(days=60)).isoformat()}]})
    subject_ids = [admin.post("/subjects", {"name": f"Предмет {n}"})["id"] for n in range(subjects)]
    teacher_user = admin.post("/users", {"login": "faults.teacher", "full_name": "Учитель Отказов",
                                         "roles": ["teacher"], "password": PASSWORD})
    class_ids, lessons, parents = [], [], {}
    for c in range(classes):
        head = admin.post("/users", {"login": f"faults.ct{c}", "full_name": f"Классный руководитель {c}",
                                     "roles": ["teacher", "class_teacher"], "password": PASSWORD})
        klass = admin.post("/classes", {"year_id": year["id"], "grade": 5 + c, "letter": "В",
                                        "class_teacher_id": head["id"]})
        class_ids.append(klass["id"])
        for subject in subject_ids:
            admin.post("/assignments", {"teacher_id": teacher_user["id"], "class_id": klass["id"],
                                        "subject_id": subject, "hours_per_week": 3})
        roster = []
        for s in range(students):
            student = admin.post("/users", {"login": f"faults.s{c}.{s}", "full_name": f"Ученик {c}-{s}",
                                            "roles": ["student"], "password": PASSWORD})
            parent = admin.post("/users", {"login": f"faults.p{c}.{s}", "full_name": f"Родитель {c}-{s}",
                                           "roles": ["parent"], "password": PASSWORD,
                                           "email": f"p{c}.{s}@example.org"})
            admin.post(f"/students/{student['id']}/parents", {"parent_id": parent["id"], "relation": "мать"},
                       expect=201)
            admin.put(f"/parents/{parent['id']}/consent", {"given": True, "signed_on": today.isoformat()},
                      expect=200)
            admin.post(f"/classes/{klass['id']}/students", {"student_id": student["id"], "order_no": f"{c}-{s}",
                                                            "on": start.isoformat()}, expect=201)
            roster.append(student["id"])
            parents[student["id"]] = parent["id"]
        lessons.append((klass["id"], roster))
    teacher = Api(base).login("faults.teacher", PASSWORD)
    made = []
    for class_id, roster in lessons:
        for subject in subject_ids:
            for n in range(lessons_each):
                lesson = teacher.post("/lessons", {"class_id": class_id, "subject_id": subject,
                                                   "date": (today - dt.timedelta(days=n)).isoformat(),
                                                   "topic": f"Тема {n}", "lesson_type": "урок"}, expect=201)
                made.append({"id": lesson["id"], "class_id": class_id, "subject_id": subject, "students": roster})
    return School(base, admin, teacher, made, parents, class_ids, subject_ids)


@dataclass
class Outcome:
    """One request as the client saw it."""
    seq: int
    phase: str
    lesson: dict
    marks: list                       # [{student_id, value, comment}]
    refused_on_purpose: bool
    status: int | None = None         # the final answer (None: gave up without one)
    attempts: int = 0
    stored_ids: list = field(default_factory=list)
    answered_ok: list = field(default_factory=list)   # correlation ids of attempts answered 200
    errors: list = field(default_factory=list)

    @property
    def told_stored(self) -> bool:
        return self.status == 200

    @property
    def refused(self) -> bool:
        return self.status is not None and 400 <= self.status < 500 and self.status not in RETRY_STATUSES


class CarefulClient:
    """``threads`` threads posting ``per_request`` marks a request, each
    thread pausing ``pause`` seconds between requests, until stopped or
    ``max_requests`` were sent. ``phase()`` names the fault under way when a
    request is first sent."""

    def __init__(self, school: School, phase, *, threads: int = 4, per_request: int = 2, pause: float = 0.25,
                 max_requests: int = 3000, max_attempts: int = 40, give_up_after: float = 90.0):
        self.school = school
        self.phase = phase
        self.threads = threads
        self.per_request = per_request
        self.pause = pause
        self.max_requests = max_requests
        self.max_attempts = max_attempts
        self.give_up_after = give_up_after
        self.outcomes: list[Outcome] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []
        self.token = school.teacher.token

    def start(self) -> None:
        for n in range(self.threads):
            thread = threading.Thread(target=self._run, name=f"client-{n}", daemon=True)
            thread.start()
            self._workers.append(thread)

    def stop(self, timeout: float = 120.0) -> None:
        self._stop.set()
        deadline = time.monotonic() + timeout
        for thread in self._workers:
            thread.join(max(0.1, deadline - time.monotonic()))
        assert not any(t.is_alive() for t in self._workers), "the client's threads did not end"

    def marks_told_stored(self) -> int:
        with self._lock:
            return sum(len(o.marks) for o in self.outcomes if o.told_stored)

    def _next(self) -> Outcome | None:
        seq = next(self._seq)
        if seq >= self.max_requests:
            return None
        lesson = self.school.lessons[seq % len(self.school.lessons)]
        roster = lesson["students"]
        first = (seq * self.per_request) % len(roster)
        marks = [{"student_id": roster[(first + i) % len(roster)], "value": 2 + (seq + i) % 4,
                  "comment": f"f{seq}.{i}"} for i in range(self.per_request)]
        bad = seq % REFUSED_EVERY == REFUSED_EVERY - 1
        if bad:
            marks.append({"student_id": str(uuid.uuid4()), "value": 4, "comment": f"f{seq}.x"})
        return Outcome(seq, self.phase(), lesson, marks, bad)

    def _run(self) -> None:
        session = requests.Session()
        while not self._stop.is_set():
            outcome = self._next()
            if outcome is None:
                return
            self.send(session, outcome)
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.pause)

    def send(self, session: requests.Session, outcome: Outcome) -> None:
        key = str(uuid.uuid4())
        url = f"{self.school.base}/api/v1/lessons/{outcome.lesson['id']}/marks"
        body = {"marks": [{"student_id": m["student_id"], "value": m["value"], "comment": m["comment"]}
                          for m in outcome.marks]}
        deadline = time.monotonic() + self.give_up_after
        delay = 0.2
        while outcome.attempts < self.max_attempts and time.monotonic() < deadline:
            outcome.attempts += 1
            cid = f"faults-{outcome.seq}-{outcome.attempts}-{uuid.uuid4().hex[:8]}"
            headers = {"Authorization": f"Bearer {self.token}", "Idempotency-Key": key, "X-Correlation-Id": cid}
            try:
                answer = session.put(url, json=body, headers=headers, timeout=15)
            except requests.RequestException as exc:
                outcome.errors.append(type(exc).__name__)
            else:
                if answer.status_code not in RETRY_STATUSES:
                    outcome.status = answer.status_code
                    if answer.status_code == 200:
                        outcome.answered_ok.append(cid)
                        outcome.stored_ids = [m["id"] for m in answer.json()["marks"]]
                    else:
                        outcome.errors.append(f"{answer.status_code} {answer.text[:200]}")
                    return
                outcome.errors.append(str(answer.status_code))
            time.sleep(delay)
            delay = min(2.0, delay * 2)
