"""The console's audit page (``/console/audit``): the audit trail for admins, as ``aftercare audit`` prints it.

The same filters (a patient, a staff member, a first day in clinic time), staff named, times in the
clinic's zone, newest first in pages of :data:`AUDIT_PAGE_SIZE`. Only admins (STAFF_IDS, as for
``/staffinvite``) read it: other staff get the chat's refusal, recorded as a refused ``access``. Each
reading is a ``view_audit`` row of the trail itself (jobs/staff/audit_view.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from enum import StrEnum
from urllib.parse import urlencode

from aiohttp import web
from markupsafe import Markup

from bot.web.common import write
from bot.web.console.identity import IDENTITY, Identity
from bot.web.console.pages import _locale, _refused, _render, _services, _text, staff_page
from jobs.inputs import parse_row_id, parse_user_id
from jobs.ops import audit
from jobs.refusal import Refusal
from jobs.staff.audit_view import read_audit, staff_subject
from jobs.storage.models import AuditEvent

log = logging.getLogger(__name__)

AUDIT_PAGE_SIZE = 50


@dataclass(frozen=True)
class AuditFilters:
    """``aftercare audit``'s filters as the page's query gives them: a patient, a staff member, a first day."""

    patient_id: int | None = None
    actor_id: int | None = None
    since: date | None = None
    before: int | None = None  # the page: rows numbered below this one

    @classmethod
    def read(cls, query) -> AuditFilters:
        """Each value parsed once, bounded; a bad one is a Refusal that says how to write it."""
        patient, staff, since = (query.get(name, "").strip() for name in ("patient", "staff", "since"))
        try:
            before = parse_row_id(query.get("before", ""), key="console_web_not_found") if "before" in query else None
        except Refusal:
            before = None  # a page link someone edited: the newest rows
        if since and len(since) > len("2026-12-01"):
            raise Refusal("console_web_audit_bad_since")
        try:
            day = date.fromisoformat(since) if since else None
        except ValueError:
            raise Refusal("console_web_audit_bad_since") from None
        return cls(patient_id=parse_row_id(patient, key="console_web_audit_bad_patient") if patient else None,
                   actor_id=parse_user_id(staff, key="console_web_audit_bad_staff") if staff else None,
                   since=day, before=before)

    def link(self, **changes: object) -> str:
        """This view's address with ``changes`` (None drops a filter)."""
        values = {"patient": self.patient_id, "staff": self.actor_id, "since": self.since, "before": None, **changes}
        query = {key: str(value) for key, value in values.items() if value is not None}
        return "/console/audit" + (f"?{urlencode(query)}" if query else "")


def _audit_who(request: web.Request, row: AuditEvent, names: dict[int, str]) -> Markup:
    """Who acted, as a person reads it: a staff member by name and id, the patient, a key, the operator, the bot."""
    if row.actor == audit.ActorKind.PERSON and row.actor_id is not None:
        name = names.get(row.actor_id) or row.actor_name
        if name:
            return _text(request, "console_web_audit_person", name=name, user_id=row.actor_id)
        return _text(request, "console_web_audit_user", user_id=row.actor_id)
    if row.actor in (audit.ActorKind.API_KEY, audit.ActorKind.OPERATOR):
        return _text(request, f"console_web_audit_actor_{row.actor}", name=row.actor_name or "?")
    return _text(request, "console_web_audit_actor_patient" if row.actor == audit.ActorKind.PATIENT
                 else "console_web_audit_actor_system")


def _audit_label(request: web.Request, kind: str, value: str, members: type[StrEnum]) -> Markup:
    """An action, face or outcome in words; a value this code does not know is shown as stored."""
    known = {member.value for member in members}
    return _text(request, f"console_web_audit_{kind}_{value}") if value in known else Markup.escape(value)


def _audit_details(request: web.Request, row: AuditEvent, names: dict[int, str]) -> Markup:
    parts: list[Markup] = []
    subject = staff_subject(row)
    if subject is not None:
        parts.append(_text(request, "console_web_audit_person", name=names[subject], user_id=subject)
                     if subject in names else _text(request, "console_web_audit_user", user_id=subject))
    elif row.subject:
        parts.append(Markup.escape(row.subject))
    if row.count is not None:
        many = "patients" if row.action in (audit.Action.EXPORT, audit.Action.IMPORT) else "rows"
        parts.append(_text(request, f"console_web_audit_count_{many}", count=row.count))
    return Markup(" · ").join(parts)


@staff_page
async def audit_trail(request: web.Request) -> web.Response:
    """The audit trail for admins, newest first, filtered as ``aftercare audit`` is; reading it is a row too."""
    services = _services(request)
    identity: Identity = request[IDENTITY]
    now = services.clock()
    if not services.settings.is_admin(identity.user_id):
        log.warning("console: refused the audit trail to non-admin staff %s", identity.user_id)
        await write(request, audit.record, action=audit.Action.ACCESS, outcome=audit.Outcome.REFUSED, now=now)
        return _render(request, "refused.html", {"message": _text(request, "not_admin")}, status=403)
    zone = services.settings.clinic_timezone
    context: dict = {"zone": zone.key, "rows": [], "older": None, "refusal": None,
                     "typed": {name: request.query.get(name, "")[:40] for name in ("patient", "staff", "since")}}
    try:
        filters = AuditFilters.read(request.query)
    except Refusal as refusal:
        # Nothing read, so nothing recorded: the form comes back with what was typed and why it was not taken.
        context["refusal"] = _refused(request, refusal)
        return _render(request, "audit.html", {**context, "filters": AuditFilters()}, status=422)
    since = (datetime.combine(filters.since, time(), tzinfo=zone).astimezone(UTC) if filters.since else None)
    page = await write(request, read_audit, now=now, page_size=AUDIT_PAGE_SIZE, patient_id=filters.patient_id,
                       actor_id=filters.actor_id, since=since, before=filters.before)
    locale = _locale(request)
    context["rows"] = [{
        "row": row, "when": services.catalog.format_date(locale, row.at.astimezone(zone), with_time=True,
                                                         with_year=True),
        "who": _audit_who(request, row, page.names),
        "staff": row.actor_id if row.actor == audit.ActorKind.PERSON else None,
        "what": _audit_label(request, "action", row.action, audit.Action),
        "face": _audit_label(request, "face", row.face, audit.Face),
        "outcome": _audit_label(request, "outcome", row.outcome, audit.Outcome),
        "refused": row.outcome != audit.Outcome.SUCCESS,
        "details": _audit_details(request, row, page.names)} for row in page.rows]
    context["older"] = filters.link(before=page.older) if page.older is not None else None
    log.info("console: admin %s read %d rows of the audit trail", identity.user_id, len(page.rows))
    return _render(request, "audit.html", {**context, "filters": filters})


def add_routes(app: web.Application) -> None:
    """Register the audit page (after :func:`bot.web.console.pages.add_routes`, which sets up the templates)."""
    app.router.add_get("/console/audit", audit_trail, allow_head=False)
