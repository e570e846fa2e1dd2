"""The outcome charts of ``/console/stats``: how the skin turned out after the series, and the review requests.

The answers to the outcome questions by protocol question and by the number of sessions, the share
of outcome questions answered week by week, and the review requests sent and opened. Every figure is
/stats' own: :func:`jobs.care.outcomes.outcome_periods` is what ``outcome_figures`` counts with, here
for each week in one reading of the rows. "Opened" is shown only where it is counted (the review
redirect on the HTTP side), as /stats says "-" otherwise.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlmodel import Session

from bot.services import Services
from bot.web.console.charts import Chart, Series
from jobs.buttons import scale_label
from jobs.care.outcomes import OutcomeFigures, outcome_periods
from messages.protocol import Scale


def outcome_weeks(session: Session, *, starts: list[datetime]) -> list[OutcomeFigures]:
    """/stats' outcome figures of each week (from its start to the next's, the last to now), oldest first."""
    return outcome_periods(session, starts=list(starts))


def _answers(services: Services, locale: str, whole: OutcomeFigures) -> dict[str, str]:
    """Every answer of the scales asked, in each scale's order, with its label (the default scale if none was)."""
    catalog = services.catalog
    scales: list[Scale] = [catalog.protocol_for(protocol).step_scale(step)
                           for protocol, step in sorted(whole.by_protocol)]
    scales = scales or [catalog.protocol_for(services.settings.default_protocol).scale(None)]
    answers: dict[str, str] = {}
    for scale in scales:
        for answer in scale.answers:
            answers.setdefault(answer, scale_label(scale, answer, catalog=catalog, locale=locale))
    for counts in whole.by_sessions.values():  # an answer no scale has any more shows as its key
        for answer in counts:
            answers.setdefault(answer, answer)
    return answers


def outcome_charts(services: Services, locale: str, *, periods: list[OutcomeFigures], weeks: list[str]
                   ) -> list[Chart]:
    """The five outcome charts, from :func:`outcome_weeks` and the weeks' labels."""
    text = services.text
    catalog = services.catalog
    whole = OutcomeFigures.merged(periods)
    answers = _answers(services, locale, whole)
    keys, labels = list(answers), list(answers.values())
    axis = text(locale, "console_web_answer")

    def spread(name: str, counts: Counter) -> Series:
        return Series(name, [counts.get(key, 0) for key in keys])

    nothing = [spread(text(locale, "console_web_series_no_answers"), Counter())]
    by_protocol = [spread(f"{protocol.title if (protocol := catalog.protocols.get(name)) else name}, "
                          f"{catalog.step_title(locale, step)}", counts)
                   for (name, step), counts in sorted(whole.by_protocol.items())]
    by_sessions = [spread(text(locale, "console_web_series_after_session", sessions=sessions), counts)
                   for sessions, counts in sorted(whole.by_sessions.items())]
    asked, answered = [week.asked for week in periods], [week.answered for week in periods]
    reviews = [Series(text(locale, "console_web_series_sent"), [week.reviews_sent for week in periods])]
    note = ""
    if services.settings.review_redirect:
        reviews.append(Series(text(locale, "console_web_series_opened"), [week.reviews_opened for week in periods]))
    else:
        note = text(locale, "console_web_reviews_not_counted")
    return [
        Chart(text(locale, "console_web_chart_outcomes_protocol"), labels, by_protocol or nothing, axis=axis),
        Chart(text(locale, "console_web_chart_outcomes_sessions"), labels, by_sessions or nothing, axis=axis),
        Chart(text(locale, "console_web_chart_outcomes_answered"), weeks, [
            Series(text(locale, "console_web_series_asked"), asked),
            Series(text(locale, "console_web_series_answered"), answered)]),
        Chart(text(locale, "console_web_chart_outcomes_share"), weeks, [
            Series(text(locale, "console_web_series_share_answered"),
                   [round(100 * done / sent) if sent else 0 for done, sent in zip(answered, asked, strict=True)],
                   unit="%")]),
        Chart(text(locale, "console_web_chart_reviews"), weeks, reviews, note=note),
    ]
