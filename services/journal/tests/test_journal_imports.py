"""The student import on real RabbitMQ + PostgreSQL with identity's RPC
mocked by a small in-memory identity (R-S2): all or nothing, every bad row
reported, a second import of the same file changes nothing, and a failure
of identity half-way is completed by importing the same file again."""
from __future__ import annotations

import base64
import datetime as dt
import json
import uuid

import pytest
from nameko.exceptions import RemoteError

from journal import errors, store

HEADER = "ФИО ученика;Дата рождения;Пол;Логин ученика;ФИО родителя;E-mail родителя;Логин родителя;Кем приходится"
ROWS = [
    "Иванов Иван;01.03.2015;м;ivanov.i;Иванова Мария;ivanova@example.ru;ivanova.m;мать",
    "Иванов Иван;01.03.2015;м;ivanov.i;Иванов Пётр;ivanov.p@example.ru;ivanov.p;отец",
    "Петрова Анна;15.07.2015;ж;petrova.a;Петров Сергей;petrov@example.ru;petrov.s;отец",
]


def csv_file(*rows):
    return "\n".join([HEADER, *rows]).encode("utf-8")


class FakeIdentity:
    """identity's create_user / link_parent / resolve_users, in memory."""

    def __init__(self, school_id):
        self.school_id = school_id
        self.users = {}      # login -> {id, roles, full_name, school_id}
        self.links = {}      # (student_id, parent_id) -> relation
        self.fail_create_after = None

    def install(self, mock):
        mock.resolve_users.side_effect = self.resolve_users
        mock.create_user.side_effect = self.create_user
        mock.link_parent.side_effect = self.link_parent

    def resolve_users(self, ctx, items):
        out = []
        for item in items:
            user = self.users.get(item["login"].casefold())
            if "@" not in (item.get("email") or "@"):
                out.append({"status": "invalid", "message": "Неверный адрес электронной почты"})
            elif user is None:
                out.append({"status": "new"})
            elif user["school_id"] != ctx["school_id"]:
                out.append({"status": "taken", "message": f"Логин «{item['login']}» уже занят"})
            else:
                out.append({"status": "existing", "id": user["id"], "full_name": user["full_name"],
                            "roles": user["roles"],
                            "parent_ids": sorted(p for s, p in self.links if s == user["id"])})
        return out

    def create_user(self, ctx, data):
        if self.fail_create_after is not None and len(self.users) >= self.fail_create_after:
            raise RemoteError("OSError", "database is down")
        user = {"id": str(uuid.uuid4()), "roles": data["roles"], "full_name": data["full_name"],
                "school_id": ctx["school_id"]}
        self.users[data["login"].casefold()] = user
        return {"id": user["id"], "login": data["login"], "initial_password": "пароль-" + data["login"]}

    def link_parent(self, ctx, student_id, parent_id, relation):
        self.links[(student_id, parent_id)] = relation
        return {"student_id": student_id, "parent_id": parent_id, "relation": relation}


@pytest.fixture
def setup(journal, make):
    ct = make.person("teacher", "class_teacher")
    year = make.year()
    klass = make.klass(year, grade=2, letter="А", class_teacher_id=ct)
    identity = FakeIdentity(make.school_id)
    identity.install(journal.identity)
    return dict(ct=ct, ctx=make.ctx(ct, "teacher", "class_teacher"), year=year, klass=klass, identity=identity,
                on=(year.starts_on + dt.timedelta(days=1)).isoformat())


def upload(setup, content, **extra):
    return {"content_b64": base64.b64encode(content).decode(), "filename": "класс.csv",
            "class_id": setup["klass"].id, "order_no": "№ 3-у", "on": setup["on"], **extra}


def test_r_s2_import_creates_links_enrols_and_a_second_import_changes_nothing(journal, make, setup):
    result = journal.call("import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    assert result["applied"] is True and result["errors"] == []
    assert (result["created"], result["updated"], result["unchanged"]) == (2, 0, 0)  # per student
    assert sorted(c["login"] for c in result["credentials"]) == ["ivanov.i", "ivanov.p", "ivanova.m", "petrov.s",
                                                                 "petrova.a"]
    ids = {login: u["id"] for login, u in setup["identity"].users.items()}
    assert setup["identity"].links == {(ids["ivanov.i"], ids["ivanova.m"]): "мать",
                                       (ids["ivanov.i"], ids["ivanov.p"]): "отец",
                                       (ids["petrova.a"], ids["petrov.s"]): "отец"}
    stays = make.rows(store.Enrolment, class_id=setup["klass"].id)
    assert {e.student_id for e in stays} == {ids["ivanov.i"], ids["petrova.a"]}
    assert {(e.order_no, e.enrolled_on.isoformat()) for e in stays} == {("№ 3-у", setup["on"])}
    assert len(make.events("student_enrolled")) == 2
    [summary] = make.events("students_imported")
    assert summary["payload"]["created"] == 2
    # the people projection knows them at once (an admission later needs no identity call)
    assert make.rows(store.Person, user_id=ids["ivanov.i"])[0].roles == ["student"]

    again = journal.call("import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    assert (again["applied"], again["created"], again["updated"], again["unchanged"]) == (True, 0, 0, 2)
    assert again["credentials"] == []
    assert len(make.rows(store.Enrolment, class_id=setup["klass"].id)) == 2
    assert len(setup["identity"].users) == 5 and len(make.events("student_enrolled")) == 2


def test_r_s2_any_bad_row_writes_nothing_and_every_bad_row_is_named(journal, make, setup):
    setup["identity"].users["petrov.s"] = {"id": "x", "roles": ["parent"], "full_name": "Чужой",
                                           "school_id": "another-school"}
    bad = [ROWS[0], "Сидоров Олег;;м;sidorov.o;Сидорова Ольга;s@example.ru;sidorova.o;мать", ROWS[2],
           "Орлов Кирилл;02.02.2015;м;orlov.k;Орлова Нина;нет-почты;orlova.n;мать"]
    result = journal.call("import_students", setup["ctx"], upload(setup, csv_file(*bad)))
    assert result["applied"] is False and (result["created"], result["updated"]) == (0, 0)
    assert [e["row"] for e in result["errors"]] == [3, 4, 5]
    assert "дата рождения" in result["errors"][0]["message"]
    assert "занят" in result["errors"][1]["message"]
    assert "почты" in result["errors"][2]["message"]
    assert make.rows(store.Enrolment) == [] and make.events() == []
    assert journal.identity.create_user.call_count == 0 and journal.identity.link_parent.call_count == 0


def test_r_s2_import_permissions_and_unreadable_file(journal, make, setup):
    other = make.person("teacher", "class_teacher")
    with pytest.raises(errors.ServiceError) as exc:
        journal.call("import_students", make.ctx(other, "teacher", "class_teacher"), upload(setup, csv_file(*ROWS)))
    assert exc.value.code == "FORBIDDEN"
    with pytest.raises(errors.ServiceError) as exc:
        journal.call("import_students", setup["ctx"], upload(setup, "Имя;Фамилия\nА;Б".encode()))
    assert exc.value.code == "VALIDATION_ERROR" and exc.value.details["field"] == "file"
    assert "Неизвестные столбцы" in exc.value.message
    assert journal.identity.resolve_users.call_count == 0


def test_r_s2_identity_failing_half_way_is_completed_by_the_same_file(journal, make, setup):
    setup["identity"].fail_create_after = 2
    with pytest.raises(errors.ServiceError) as exc:
        journal.call("import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    assert exc.value.code == "IMPORT_INCOMPLETE" and exc.value.kind == "unavailable"
    assert exc.value.details["accounts_created"] == 2
    assert make.rows(store.Enrolment) == []  # the journal wrote nothing
    setup["identity"].fail_create_after = None
    result = journal.call("import_students", setup["ctx"], upload(setup, csv_file(*ROWS)))
    assert result["applied"] is True and len(setup["identity"].users) == 5
    assert len(make.rows(store.Enrolment, class_id=setup["klass"].id)) == 2
    assert len(setup["identity"].links) == 3


def test_r_s2_a_new_parent_for_a_known_student_counts_as_updated(journal, make, setup):
    journal.call("import_students", setup["ctx"], upload(setup, csv_file(ROWS[0], ROWS[2])))
    grandma = "Иванов Иван;01.03.2015;м;ivanov.i;Иванова Зоя;zoya@example.ru;ivanova.z;бабушка"
    result = journal.call("import_students", setup["ctx"], upload(setup, csv_file(ROWS[0], grandma, ROWS[2])))
    assert (result["applied"], result["created"], result["updated"], result["unchanged"]) == (True, 0, 1, 1)
    assert [c["login"] for c in result["credentials"]] == ["ivanova.z"]
    ids = {login: u["id"] for login, u in setup["identity"].users.items()}
    assert setup["identity"].links[(ids["ivanov.i"], ids["ivanova.z"])] == "бабушка"
    assert len(make.rows(store.Enrolment, class_id=setup["klass"].id)) == 2


def test_r_s2_a_student_of_another_class_is_a_transfer_not_an_import(journal, make, setup):
    journal.call("import_students", setup["ctx"], upload(setup, csv_file(ROWS[2])))
    other = make.klass(setup["year"], grade=2, letter="Б", class_teacher_id=setup["ct"])
    result = journal.call("import_students", setup["ctx"], upload(setup, csv_file(ROWS[2]), class_id=other.id))
    assert result["applied"] is False
    assert result["errors"] == [{"row": 2, "message": "Ученик уже учится в 2А: оформите перевод"}]
    assert make.rows(store.Enrolment, class_id=other.id) == []
