"""The patient search and /stats' figures in SQL give the answers the Python versions gave.

``find_patients`` used to fold every patient's name in Python; it now asks SQL through the stored
``patient.search_key``. /stats' three functions used to be asked once per week for the console's
charts; each figure is now one grouped query over all the weeks (jobs/periods.py). The references
below are the previous code, kept here verbatim in substance, and every case is compared with them
on the test's database (SQLite, or PostgreSQL with AFTERCARE_TEST_DB=postgres).
"""

from __future__ import annotations

import random
import unicodedata
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, text
from sqlmodel import Session, select

from jobs import events
from jobs.care.silence import KIND_NUDGE, KIND_SILENCE
from jobs.staff.console import (
    SEARCH_LIMIT,
    CheckinStats,
    Stats,
    checkin_stats,
    checkin_stats_by_period,
    clinic_stats,
    clinic_stats_by_period,
    find_patients,
)
from jobs.staff.inbox import InboxStats, inbox_stats, inbox_stats_by_period, percentile
from jobs.storage.db import make_engine, upgrade
from jobs.storage.models import Enrollment, Event, InboxEvent, InboxItem, Patient, Photo, Reminder
from jobs.storage.states import PatientStatus, ReminderStatus
from messages.protocol import KIND_CHECKIN, KIND_PHOTO, KIND_REBOOK

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.fixture
def engine(database_url):
    engine = make_engine(database_url)
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as session:
        yield session


# --------------------------------------------------------------------------- the search


def _old_fold(text_: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text_.casefold())
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).split())


def old_find_names(session: Session, query: str) -> list[int]:
    """The previous find_patients for a name: every name folded in Python, exact matches first."""
    wanted = _old_fold(query.strip())
    if not wanted:
        return []
    names = session.exec(select(Patient.id, Patient.name).where(Patient.status != PatientStatus.DELETED)
                         .order_by(Patient.id)).all()
    exact = [pid for pid, name in names if _old_fold(name) == wanted]
    return exact or [pid for pid, name in names if wanted in _old_fold(name)][:10]


NAMES = ["María José Ruiz", "JOSÉ Pérez", "Jose Luis Núñez", "josé", "Ольга Иванова", "ОЛЬГА Петрова", "Юлія Шевченко",
         "Łukasz Nowak", "100% Natural_Name", "Anna Straße", "Ana Ángel", "Zoë  Brandão", "Çağla Öztürk",
         "ǅemal Ǉubić", "ﬁona ﬂynn", "O'Brien Sarah"] + [f"Ana Lopez {n}" for n in range(12)]


def _patients(session: Session, names: list[str], status: PatientStatus = PatientStatus.ACTIVE) -> list[int]:
    patients = [Patient(name=name, timezone="UTC", status=status, created_at=NOW) for name in names]
    session.add_all(patients)
    session.commit()
    return [patient.id for patient in patients]


@pytest.mark.parametrize("query", [
    "jose", "JOSÉ", "José", "josé pérez", "JOSE   PEREZ", "ольга", "ОЛЬГА ПЕТРОВА", "юлия", "ЮЛІЯ", "lukasz", "%", "_",
    "100%", "l_", "strasse", "STRASSE", "straße", "zoe brandao", "cagla ozturk", "dzemal", "ǆemal ǉubić", "fiona",
    "ﬁ", "o'brien", "ana", "ana lopez", "ana lopez 1", "ANA LÓPEZ 11", "angel", "zzz", "", "   ", "\u0301",
])
def test_the_search_in_sql_finds_whom_the_python_search_found(session, query):
    _patients(session, NAMES)
    _patients(session, ["José Erased", "Ana Erased"], status=PatientStatus.DELETED)
    expected = old_find_names(session, query)
    assert [p.id for p in find_patients(session, query=query)] == expected


def test_search_pins_accents_case_cyrillic_and_the_limit(session):
    ids = dict(zip(NAMES, _patients(session, NAMES), strict=True))
    assert [p.name for p in find_patients(session, query="Jose")] == ["josé"]  # a whole name first
    assert [p.name for p in find_patients(session, query="jose p")] == ["JOSÉ Pérez"]
    assert [p.name for p in find_patients(session, query="ольга")] == ["Ольга Иванова", "ОЛЬГА Петрова"]
    assert [p.name for p in find_patients(session, query="ЮЛИЯ")] == []  # Ukrainian і is not Russian и
    assert [p.name for p in find_patients(session, query="юлія")] == ["Юлія Шевченко"]
    assert [p.name for p in find_patients(session, query="%")] == ["100% Natural_Name"]  # no wildcard
    assert find_patients(session, query="") == [] and find_patients(session, query="  ") == []
    # Paging boundary: 13 names contain "ana lopez" or "ana"; the first SEARCH_LIMIT by id.
    found = find_patients(session, query="ana lopez")
    assert len(found) == SEARCH_LIMIT == 10
    assert [p.id for p in found] == [ids[f"Ana Lopez {n}"] for n in range(10)]
    assert [p.name for p in find_patients(session, query="ana lopez 1")] == ["Ana Lopez 1"]  # exact wins
    assert [p.name for p in find_patients(session, query="ana lopez 1 ")] == ["Ana Lopez 1"]
    assert [p.id for p in find_patients(session, query=f"#{ids['Łukasz Nowak']}")] == [ids["Łukasz Nowak"]]


def test_the_search_key_follows_every_change_of_the_name(session):
    (pid,) = _patients(session, ["Renée Dupont"])
    patient = session.get(Patient, pid)
    assert patient.search_key == "renee dupont"
    patient.name = "ОЛЬГА Иванова"
    session.add(patient)
    session.commit()
    assert session.exec(select(Patient.search_key).where(Patient.id == pid)).one() == "ольга иванова"
    assert [p.id for p in find_patients(session, query="Ольга")] == [pid]
    assert find_patients(session, query="renee") == []


def test_the_migration_folds_the_names_already_there(database_url):
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0021")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO patient (name, status, timezone, locale, series_length, created_at, topic_closed) "
                "VALUES ('Ángela MARTÍNEZ', 'active', 'UTC', 'en', 3, :at, false)"), {"at": "2026-12-01 10:00:00"})
        upgrade(engine)
        with Session(engine) as session:
            assert session.exec(select(Patient.search_key)).one() == "angela martinez"
            assert [p.name for p in find_patients(session, query="angela")] == ["Ángela MARTÍNEZ"]
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- the stats


def old_clinic_stats(session: Session, *, since: datetime, now: datetime) -> Stats:
    enrolled = session.exec(select(func.count()).select_from(Patient)
                            .where(Patient.created_at >= since, Patient.created_at <= now)).one()
    linked = session.exec(select(func.count()).select_from(Patient)
                          .where(Patient.linked_at >= since, Patient.linked_at <= now)).one()
    messages = Counter(dict(session.exec(
        select(Reminder.status, func.count()).where(Reminder.due_at >= since, Reminder.due_at <= now,
                                                    Reminder.kind != KIND_SILENCE)
        .group_by(Reminder.status)).all()))
    answers: Counter = Counter()
    totals: Counter = Counter()
    for kind, detail, count in session.exec(select(Event.kind, Event.detail, func.count())
                                            .where(Event.at >= since, Event.at <= now)
                                            .group_by(Event.kind, Event.detail)).all():
        totals[kind] += count
        if kind == events.CHECKIN:
            answers[detail] += count
    rebook_offered = session.exec(
        select(func.count(func.distinct(Reminder.enrollment_id)))
        .where(Reminder.kind == KIND_REBOOK, Reminder.status == ReminderStatus.SENT,
               Reminder.sent_at >= since, Reminder.sent_at <= now)).one()
    return Stats(enrolled=enrolled, linked=linked, messages=messages, answers=answers,
                 escalations=totals[events.ESCALATED], rebook_offered=rebook_offered, booked=totals[events.BOOKED])


def old_checkin_stats(session: Session, *, since: datetime, now: datetime) -> CheckinStats:
    sent_in_period = (Reminder.status == ReminderStatus.SENT, Reminder.sent_at >= since, Reminder.sent_at <= now)
    steps = session.exec(select(Reminder.sent_at, Reminder.answered_at)
                         .where(Reminder.kind.in_([KIND_CHECKIN, KIND_PHOTO]), *sent_in_period)).all()
    waits = sorted(answered - sent for sent, answered in steps if answered is not None)
    median = None
    if waits:
        middle = len(waits) // 2
        median = waits[middle] if len(waits) % 2 else (waits[middle - 1] + waits[middle]) / 2
    follow_ups = Counter(dict(session.exec(
        select(Reminder.kind, func.count()).where(Reminder.kind.in_([KIND_NUDGE, KIND_SILENCE]), *sent_in_period)
        .group_by(Reminder.kind)).all()))
    photos = session.exec(select(func.count()).select_from(Photo)
                          .where(Photo.received_at >= since, Photo.received_at <= now)).one()
    reviews = Counter(dict(session.exec(
        select(Photo.review, func.count()).where(Photo.reviewed_at >= since, Photo.reviewed_at <= now)
        .group_by(Photo.review)).all()))
    return CheckinStats(asked=len(steps), answered=len(waits), median_answer=median, photos=photos,
                        reviews=reviews, nudged=follow_ups[KIND_NUDGE], silent=follow_ups[KIND_SILENCE])


def old_inbox_stats(session: Session, *, since: datetime, now: datetime) -> InboxStats:
    counts = Counter(dict(session.exec(select(InboxEvent.kind, func.count())
                                       .where(InboxEvent.at >= since, InboxEvent.at <= now)
                                       .group_by(InboxEvent.kind)).all()))
    waits = sorted((taken - opened) for opened, taken in session.exec(
        select(InboxItem.opened_at, InboxItem.taken_at).where(
            InboxItem.kind == "worried", InboxItem.taken_at.is_not(None),
            InboxItem.taken_at >= since, InboxItem.taken_at <= now)).all())
    return InboxStats(opened=counts["opened"], taken=counts["taken"], resolved=counts["resolved"],
                      raised_again=counts["raised_again"], worried_taken=len(waits),
                      median_to_take=percentile(waits, 50), p90_to_take=percentile(waits, 90))


def _comparable(figures) -> tuple:
    """A figure with its Counters' zero entries dropped (a period's Counter may name a key with 0)."""
    return tuple(+value if isinstance(value, Counter) else value for value in vars(figures).values())


def _history(session: Session, *, seed: int, patients: int = 60, edges: list[datetime] | None = None) -> None:
    """Random rows over the 10 weeks before NOW, every column the stats read, some exactly on ``edges``."""
    rng = random.Random(seed)
    start = NOW - timedelta(weeks=10)
    edges = edges or []

    def moment() -> datetime:
        if edges and rng.random() < 0.1:
            return rng.choice(edges)
        return start + timedelta(seconds=rng.randint(0, 10 * 7 * 86400), microseconds=rng.randint(0, 999_999))

    for pid in range(1, patients + 1):
        created = moment()
        session.add(Patient(id=pid, name=f"P {pid}", timezone="UTC", status="active", created_at=created,
                            linked_at=moment() if rng.random() < 0.8 else None))
        session.flush()
        session.add(Enrollment(id=pid, patient_id=pid, session_at=created, protocol_name="p", protocol_version="1",
                               created_at=created))
    session.flush()
    for rid in range(1, patients * 8 + 1):
        pid = rng.randint(1, patients)
        kind = rng.choice([KIND_CHECKIN, KIND_PHOTO, KIND_REBOOK, KIND_NUDGE, KIND_SILENCE, "info", "outcome"])
        status = rng.choice(list(ReminderStatus))
        sent = moment() if status == ReminderStatus.SENT or rng.random() < 0.1 else None
        # Whole minutes after a moment with microseconds: SQLite's date functions count milliseconds.
        answered = sent + timedelta(minutes=rng.randint(0, 900)) if sent and rng.random() < 0.6 else None
        due = moment()
        session.add(Reminder(id=rid, enrollment_id=pid, patient_id=pid, step_key="s", text_key="s", kind=kind,
                             planned_at=due, due_at=due, expires_at=due, status=status, sent_at=sent,
                             answered_at=answered))
        session.flush()
        if kind == KIND_PHOTO and rng.random() < 0.5:
            reviewed = moment() if rng.random() < 0.7 else None
            session.add(Photo(reminder_id=rid, patient_id=pid, received_at=moment(), reviewed_at=reviewed,
                              review=rng.choice(["ok", "call", "again"]) if reviewed else None))
    for _ in range(patients * 4):
        kind = rng.choice([events.CHECKIN, events.ESCALATED, events.BOOKED, "enrolled", "linked"])
        session.add(Event(patient_id=rng.randint(1, patients), kind=kind, at=moment(),
                          detail=rng.choice(["fine", "red", "worried", None]) if kind == events.CHECKIN else None))
    for iid in range(1, patients + 1):
        opened = moment()
        taken = opened + timedelta(minutes=rng.randint(0, 300)) if rng.random() < 0.7 else None
        session.add(InboxItem(id=iid, kind=rng.choice(["worried", "photo", "message"]), patient_id=None,
                              opened_at=opened, raised_at=opened, taken_at=taken,
                              status="taken" if taken else "open"))
        session.flush()
        for change in ["opened", "taken", "resolved", "raised_again"][:rng.randint(1, 4)]:
            session.add(InboxEvent(item_id=iid, kind=change, at=moment(), actor="staff", to_status="open"))
    session.commit()


@pytest.mark.parametrize("seed", [1, 2])
def test_weekly_figures_in_one_query_each_equal_the_figures_asked_week_by_week(session, seed):
    weeks = 8
    bounds = [NOW - timedelta(weeks=weeks - index) for index in range(weeks)] + [NOW]
    _history(session, seed=seed)  # no row on an edge: each week as asked alone
    grouped = (clinic_stats_by_period(session, bounds=bounds, whole=True),
               checkin_stats_by_period(session, bounds=bounds, whole=True),
               inbox_stats_by_period(session, bounds=bounds, whole=True))
    for old, new in zip((old_clinic_stats, old_checkin_stats, old_inbox_stats), grouped, strict=True):
        expected = [old(session, since=since, now=until) for since, until in zip(bounds, bounds[1:], strict=False)]
        expected.append(old(session, since=bounds[0], now=bounds[-1]))
        assert [_comparable(figure) for figure in new] == [_comparable(figure) for figure in expected]
        assert any(_comparable(figure) != _comparable(expected[0]) for figure in expected)  # not all empty


def test_a_single_period_is_what_stats_always_counted_edges_included(session):
    since = NOW - timedelta(days=30)
    _history(session, seed=3, edges=[since, NOW])
    for old, new in ((old_clinic_stats, clinic_stats), (old_checkin_stats, checkin_stats),
                     (old_inbox_stats, inbox_stats)):
        assert _comparable(new(session, since=since, now=NOW)) == _comparable(old(session, since=since, now=NOW))
    assert _comparable(clinic_stats(session, since=NOW, now=NOW)) == _comparable(
        old_clinic_stats(session, since=NOW, now=NOW))


def test_a_row_on_an_inner_edge_counts_once_in_the_later_week(session):
    edge = NOW - timedelta(weeks=1)
    session.add(Patient(id=1, name="On the edge", timezone="UTC", created_at=edge))
    session.add(Patient(id=2, name="At the end", timezone="UTC", created_at=NOW))
    session.add(Patient(id=3, name="At the start", timezone="UTC", created_at=NOW - timedelta(weeks=2)))
    session.commit()
    weekly = clinic_stats_by_period(session, bounds=[NOW - timedelta(weeks=2), edge, NOW], whole=True)
    assert [figure.enrolled for figure in weekly] == [1, 2, 3]


def test_many_periods_add_up_to_the_whole(session):
    """More periods than one SQLite statement unites (jobs.periods.ARMS): the counts still add up."""
    _history(session, seed=4, patients=30)
    start = NOW - timedelta(weeks=10)
    bounds = [start + (NOW - start) * index / 450 for index in range(451)]
    periods = clinic_stats_by_period(session, bounds=bounds)
    whole = old_clinic_stats(session, since=start, now=NOW)
    assert len(periods) == 450
    assert sum(p.enrolled for p in periods) == whole.enrolled > 0
    assert sum((p.messages for p in periods), Counter()) == +whole.messages
    assert sum((p.answers for p in periods), Counter()) == +whole.answers
    checkins = checkin_stats_by_period(session, bounds=bounds, whole=True)
    assert _comparable(checkins[-1]) == _comparable(old_checkin_stats(session, since=start, now=NOW))


def test_each_figure_is_built_once_and_counts_whatever_bounds_it_is_given(session, monkeypatch):
    """jobs/periods.py keeps each figure's statement with its edges as parameters: asked again over other
    weeks (the stats page's weeks end at every look's moment), it counts those weeks, and is not rebuilt."""
    from jobs import periods

    _history(session, seed=5)
    built: list[int] = []
    real_edges = periods._edges
    monkeypatch.setattr(periods, "_BUILT", {})
    monkeypatch.setattr(periods, "_edges", lambda moment, count: built.append(count) or real_edges(moment, count))
    for shift in (timedelta(0), timedelta(days=1, minutes=7), timedelta(days=9, seconds=13)):
        end = NOW - shift
        bounds = [end - timedelta(weeks=4 - index) for index in range(4)] + [end]
        for old, new in ((old_clinic_stats, clinic_stats_by_period), (old_checkin_stats, checkin_stats_by_period),
                         (old_inbox_stats, inbox_stats_by_period)):
            expected = [old(session, since=since, now=until) for since, until in zip(bounds, bounds[1:], strict=False)]
            assert [_comparable(figure) for figure in new(session, bounds=bounds)] == \
                [_comparable(figure) for figure in expected]
    # Once per figure (5 + 4 + 2), at the first weeks asked only.
    assert built == [5] * 11
