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

from sqlalchemy import bindparam, case, func, literal_column, select, union_all
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

ARMS = 200


# The statements built so far, by (name, dialect, number of edges): each figure's statement is built once,
# with its edges as parameters, and reused (its cache key and compiled form too): building and compiling
# the CASEs or the ranges cost the stats page more than counting did (bench/console_pages.py).
_BUILT: dict[tuple[str, str, int], list] = {}


def _edges(moment: Any, count: int) -> list:
    """The ``count`` edges as bound parameters ``edge0``... of ``moment``'s type."""
    return [bindparam(f"edge{index}", type_=moment.type) for index in range(count)]


def _edge_values(bounds: Sequence[datetime]) -> dict[str, datetime]:
    """The parameters of a statement built over ``bounds``' edges."""
    return {f"edge{index}": edge for index, edge in enumerate(bounds)}


def period_of(moment: Any, bounds: Sequence[Any]) -> ColumnElement:
    """The index (0 = oldest) of the period ``moment`` falls in, for rows already within the bounds."""
    inner = bounds[1:-1]
    if not inner:
        return literal_column("0")
    return case(*[(moment < edge, literal_column(str(index))) for index, edge in enumerate(inner)],
                else_=literal_column(str(len(inner))))


def _period_range(moment: Any, bounds: Sequence[Any], index: int) -> tuple[ColumnElement, ColumnElement]:
    """``moment`` within period ``index``: its start included, its end too only for the last period."""
    end = bounds[index + 1]
    return moment >= bounds[index], (moment <= end if index == len(bounds) - 2 else moment < end)


def ranges_united(session: Session) -> bool:
    """Whether periods are counted as a ``UNION ALL`` of ranges (SQLite) rather than by a CASE (PostgreSQL)."""
    return session.get_bind().dialect.name == "sqlite"


def _chunks(arms: list) -> list:
    """The arms ``UNION ALL``-ed in statements of at most ARMS arms each (SQLite allows 500)."""
    chunks = [arms[first:first + ARMS] for first in range(0, len(arms), ARMS)]
    return [union_all(*chunk) if len(chunk) > 1 else chunk[0] for chunk in chunks]


def within(moment: Any, bounds: Sequence[Any]) -> tuple[ColumnElement, ColumnElement]:
    """``moment`` between the first and the last edge, both included."""
    return moment >= bounds[0], moment <= bounds[-1]


def _run(session: Session, name: str, moment: Any, bounds: Sequence[datetime], build) -> list[tuple]:
    """The rows of the statements ``build(edges, united)`` makes, built once per name, dialect and number of
    edges (see _BUILT), executed with ``bounds`` as the edges."""
    dialect = session.get_bind().dialect.name
    key = (name, dialect, len(bounds))
    statements = _BUILT.get(key)
    if statements is None:
        statements = _BUILT[key] = build(_edges(moment, len(bounds)), dialect == "sqlite")
    connection, values = session.connection(), _edge_values(bounds)
    return [tuple(row) for statement in statements for row in connection.execute(statement, values)]


def counts_by_period(session: Session, moment: Any, bounds: Sequence[datetime], *keys: Any, name: str,
                     where: Sequence = (), distinct: Any = None) -> list[tuple]:
    """``(period, *keys, count)`` rows: the rows whose ``moment`` is within the bounds, counted per period and
    ``keys`` (or the distinct values of ``distinct``).

    ``name`` names the figure, one per call site: its statement is built at the first call and reused for
    every call with as many bounds (the keys and conditions must be the same at each call; the bounds are
    parameters).

    PostgreSQL: each row's period a ``CASE`` labelled in a subquery and grouped on outside it (PostgreSQL
    does not see two renderings of one CASE with parameters as the same expression). SQLite, which has
    no hash aggregation, would sort every row of the span by its period: there the query is a
    ``UNION ALL`` of one indexed range per period, each streaming its index in order with nothing to
    sort (3x less CPU at 10,000 patients, bench/console_pages.py). One statement either way.
    """
    def counted(column: Any) -> ColumnElement:
        return func.count(func.distinct(column)) if distinct is not None else func.count()

    def build(edges: list, united: bool) -> list:
        if united:
            arms = [select(literal_column(str(index)), *keys, counted(distinct))
                    .where(*_period_range(moment, edges, index), *where) for index in range(len(edges) - 1)]
            return _chunks([arm.group_by(*keys) for arm in arms] if keys else arms)
        labelled = [period_of(moment, edges).label("period"), *[key.label(f"key{i}") for i, key in enumerate(keys)]]
        if distinct is not None:
            labelled.append(distinct.label("counted"))
        inner = select(*labelled).where(*within(moment, edges), *where).subquery()
        group = [inner.c.period, *[inner.c[f"key{i}"] for i in range(len(keys))]]
        return [select(*group, counted(inner.c.counted if distinct is not None else None)).group_by(*group)]

    return _run(session, name, moment, bounds, build)


def rows_by_period(session: Session, moment: Any, bounds: Sequence[datetime], *columns: Any, name: str,
                   where: Sequence = (), distinct: bool = False) -> list[tuple]:
    """``(period, *columns)`` for each row whose ``moment`` is within the bounds (or each distinct one): for
    medians, which SQL computes differently on each database, and for counts of distinct values that must
    also be counted over the whole. ``name`` as for :func:`counts_by_period`."""
    def build(edges: list, united: bool) -> list:
        if united:  # as in counts_by_period: a range per period, no CASE
            arms = [select(literal_column(str(index)), *columns).where(*_period_range(moment, edges, index), *where)
                    for index in range(len(edges) - 1)]
            return _chunks([arm.distinct() for arm in arms] if distinct else arms)
        query = select(period_of(moment, edges), *columns).where(*within(moment, edges), *where)
        return [query.distinct() if distinct else query]

    return _run(session, name, moment, bounds, build)


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
