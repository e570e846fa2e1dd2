"""Figures over consecutive periods, for /stats and the console's weekly charts.

``bounds`` are the periods' edges, oldest first: ``[b0, b1, ..., bn]`` makes n periods,
``[b0, b1)``, ``[b1, b2)``, ..., and the last one ``[b(n-1), bn]`` with its end included, so that a
single period ``[since, now]`` is exactly what /stats always counted. A row at an inner edge belongs
to the later period (once, never to both). Each figure is counted by the database from an index that
covers it (migration 0026), in one statement whatever the number of periods: on PostgreSQL a grouped
query, each row's period a ``CASE`` over the edges; on SQLite a ``UNION ALL`` of one range per period
(see :func:`counts_by_period`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal_column, select, union_all
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

ARMS = 200


def period_of(moment: Any, bounds: Sequence[datetime]) -> ColumnElement:
    """The index (0 = oldest) of the period ``moment`` falls in, for rows already within the bounds."""
    inner = bounds[1:-1]
    if not inner:
        return literal_column("0")
    return case(*[(moment < edge, literal_column(str(index))) for index, edge in enumerate(inner)],
                else_=literal_column(str(len(inner))))


def _period_range(moment: Any, bounds: Sequence[datetime], index: int) -> tuple[ColumnElement, ColumnElement]:
    """``moment`` within period ``index``: its start included, its end too only for the last period."""
    end = bounds[index + 1]
    return moment >= bounds[index], (moment <= end if index == len(bounds) - 2 else moment < end)


def ranges_united(session: Session) -> bool:
    """Whether periods are counted as a ``UNION ALL`` of ranges (SQLite) rather than by a CASE (PostgreSQL)."""
    return session.get_bind().dialect.name == "sqlite"


def _union(session: Session, arms: list) -> list[tuple]:
    """The rows of every arm, ``UNION ALL``-ed in statements of at most ARMS arms (SQLite allows 500)."""
    rows: list[tuple] = []
    for first in range(0, len(arms), ARMS):
        chunk = arms[first:first + ARMS]
        rows += [tuple(row) for row in session.execute(union_all(*chunk) if len(chunk) > 1 else chunk[0]).all()]
    return rows


def within(moment: Any, bounds: Sequence[datetime]) -> tuple[ColumnElement, ColumnElement]:
    """``moment`` between the first and the last edge, both included."""
    return moment >= bounds[0], moment <= bounds[-1]


def counts_by_period(session: Session, moment: Any, bounds: Sequence[datetime], *keys: Any, where: Sequence = (),
                     distinct: Any = None) -> list[tuple]:
    """``(period, *keys, count)`` rows: the rows whose ``moment`` is within the bounds, counted per period and
    ``keys`` (or the distinct values of ``distinct``).

    PostgreSQL: each row's period a ``CASE`` labelled in a subquery and grouped on outside it (PostgreSQL
    does not see two renderings of one CASE with parameters as the same expression). SQLite, which has
    no hash aggregation, would sort every row of the span by its period: there the query is a
    ``UNION ALL`` of one indexed range per period, each streaming its index in order with nothing to
    sort (3x less CPU at 10,000 patients, bench/console_pages.py). One statement either way.
    """
    def counted(column: Any) -> ColumnElement:
        return func.count(func.distinct(column)) if distinct is not None else func.count()

    if ranges_united(session):
        arms = [select(literal_column(str(index)), *keys, counted(distinct))
                .where(*_period_range(moment, bounds, index), *where) for index in range(len(bounds) - 1)]
        if keys:
            arms = [arm.group_by(*keys) for arm in arms]
        return _union(session, arms)
    labelled = [period_of(moment, bounds).label("period"), *[key.label(f"key{i}") for i, key in enumerate(keys)]]
    if distinct is not None:
        labelled.append(distinct.label("counted"))
    inner = select(*labelled).where(*within(moment, bounds), *where).subquery()
    group = [inner.c.period, *[inner.c[f"key{i}"] for i in range(len(keys))]]
    return [tuple(row) for row in session.execute(
        select(*group, counted(inner.c.counted if distinct is not None else None)).group_by(*group)).all()]


def rows_by_period(session: Session, moment: Any, bounds: Sequence[datetime], *columns: Any,
                   where: Sequence = (), distinct: bool = False) -> list[tuple]:
    """``(period, *columns)`` for each row whose ``moment`` is within the bounds (or each distinct one): for
    medians, which SQL computes differently on each database, and for counts of distinct values that must
    also be counted over the whole."""
    if ranges_united(session):  # as in counts_by_period: a range per period, no CASE
        arms = [select(literal_column(str(index)), *columns).where(*_period_range(moment, bounds, index), *where)
                for index in range(len(bounds) - 1)]
        if distinct:
            arms = [arm.distinct() for arm in arms]
        return _union(session, arms)
    query = select(period_of(moment, bounds), *columns).where(*within(moment, bounds), *where)
    return [tuple(row) for row in session.execute(query.distinct() if distinct else query).all()]


def seconds_between(later: Any, earlier: Any, dialect: str) -> ColumnElement:
    """``later - earlier`` in seconds as a number, computed by the database (no datetime reaches Python).
    SQLite's date functions count whole milliseconds."""
    if dialect == "sqlite":
        return (func.julianday(later) - func.julianday(earlier)) * 86400.0
    return func.extract("epoch", later - earlier)


def tally(rows: Iterable[tuple], periods: range) -> dict[int, Counter]:
    """:func:`counts_by_period`'s rows as a Counter per period, keyed by the key (None when there is none)."""
    counters: dict[int, Counter] = {period: Counter() for period in periods}
    for period, *keys, count in rows:
        counters[period][keys[0] if keys else None] += count
    return counters


def summed(counters: Iterable[Counter]) -> Counter:
    """The periods' counts added up: the whole's (the periods never overlap)."""
    total: Counter = Counter()
    for counter in counters:
        total.update(counter)
    return total
