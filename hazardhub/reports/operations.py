"""Phase reports (阶段报告): who may report on which phase and scope, and requesting one.

The report itself is produced by the worker job ``worker.reports.render_phase_report`` from
:mod:`hazardhub.reports.figures`; this module validates the request and records its parameters on
the :class:`~hazardhub.runs.models.ReportRun` (``params``), so a retry renders exactly the same
report: the phase, the scope unit and the cutoff moment the figures are read at.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa

from hazardhub.campaigns.models import Campaign, Phase
from hazardhub.clock import today, utcnow
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.orgs.models import OrgUnit
from hazardhub.orgs.operations import reading_roots
from hazardhub.policy import can
from hazardhub.reports.figures import cutoff_for
from hazardhub.reports.figures import is_city_scope
from hazardhub.runs import operations as runs
from hazardhub.runs.models import ReportRun

KIND = "phase_report"
#: schools offered as a scope in the form (a district of ~300 schools fits; more: choose a township)
MAX_SCOPE_CHOICES = 800


class ReportError(DomainError):
    """The request cannot be honoured; the message is shown to the user (Chinese)."""


@dataclass
class ReportParams:
    phase_id: int
    scope_unit_id: int
    #: the as-of date the user chose, or None for "now"
    as_of: date | None
    #: naive UTC moment the figures are read at (end of the as-of day, or the request time)
    cutoff: datetime

    def to_json(self) -> dict:
        return {"phase_id": self.phase_id, "scope_unit_id": self.scope_unit_id,
                "as_of": self.as_of.isoformat() if self.as_of else None,
                "cutoff": self.cutoff.isoformat()}

    @classmethod
    def from_run(cls, run: ReportRun) -> "ReportParams":
        data = getattr(run, "params", None) or {}
        if not data.get("phase_id") or not data.get("scope_unit_id") or not data.get("cutoff"):
            raise ReportError("报告参数缺失，无法生成。")
        return cls(phase_id=int(data["phase_id"]), scope_unit_id=int(data["scope_unit_id"]),
                   as_of=date.fromisoformat(data["as_of"]) if data.get("as_of") else None,
                   cutoff=datetime.fromisoformat(data["cutoff"]))


def phases_for(user) -> list[tuple[Phase, Campaign]]:
    """The phases a user may report on: those of their own bureau's campaigns (a city user: the
    city's campaigns, reported across the districts)."""
    rows = db.session.execute(
        sa.select(Phase, Campaign).join(Campaign, Campaign.id == Phase.campaign_id)
        .where(Campaign.tenant_id == user.tenant_id)
        .order_by(Campaign.year.desc(), Campaign.id.desc(), Phase.sort, Phase.id)).all()
    return [(phase, campaign) for phase, campaign in rows]


def scope_choices(user) -> list[tuple[OrgUnit, str]]:
    """Units the user may report on, each with its label: their reading roots first (a city user's
    own root means the whole city), then townships and schools below them."""
    roots = reading_roots(user)
    choices: list[tuple[OrgUnit, str]] = []
    for root in roots:
        if root.parent_id is None and is_city_scope(root):
            choices.append((root, "全市（各县区汇总）"))
        elif root.parent_id is None:
            choices.append((root, f"{root.name}（全区县）"))
        else:
            choices.append((root, root.name))
    if not roots:
        return choices
    own = [r for r in roots if r.tenant_id == user.tenant_id and not (r.parent_id is None and is_city_scope(r))]
    if own:
        below = db.session.execute(
            sa.select(OrgUnit).where(
                sa.or_(*[(OrgUnit.tenant_id == r.tenant_id) & OrgUnit.path.startswith(r.path, autoescape=True)
                         for r in own]),
                OrgUnit.id.not_in([r.id for r in roots]), OrgUnit.is_active.is_(True), OrgUnit.kind != "bureau")
            .order_by(OrgUnit.path).limit(MAX_SCOPE_CHOICES)).scalars().all()
        for unit in sorted(below, key=lambda u: (u.kind == "school", u.path)):
            prefix = "　" if unit.kind == "school" else ""
            choices.append((unit, f"{prefix}{unit.name}"))
    return [(u, label) for u, label in choices if can(user, "report.request", u)]


def request_phase_report(*, user, phase: Phase, scope_unit: OrgUnit, as_of: date | None) -> ReportRun:
    """Check the request, record its parameters and queue the job.

    :param as_of: report the ledger as it stood at the end of this day (Beijing); None: now.
    :raises ReportError: the phase is not the user's bureau's, the scope is out of reach, or the
        date is in the future or before the phase.
    :raises runs.QueueUnavailable: Redis could not take the job (the run is kept, failed).
    """
    if phase.tenant_id != user.tenant_id:
        raise ReportError("只能为本局的专项行动阶段生成报告。")
    if not can(user, "report.request", scope_unit):
        raise ReportError("所选范围不在您的管辖范围内。")
    now = today()
    if as_of is not None:
        if as_of > now:
            raise ReportError("截至日期不能晚于今天。")
        if as_of < phase.starts_on:
            raise ReportError("截至日期不能早于该阶段的开始日期。")
        cutoff = cutoff_for(as_of)
    else:
        cutoff = utcnow()  # to the microsecond: a change saved just before the request is in
    params = ReportParams(phase_id=phase.id, scope_unit_id=scope_unit.id, as_of=as_of, cutoff=cutoff)
    unit = scope_unit if scope_unit.tenant_id == user.tenant_id else None
    return runs.request_run(KIND, user=user, unit=unit, params=params.to_json())


def report_runs(user, limit: int = 50) -> list[ReportRun]:
    """Past phase reports the user may see: their own, and every one of the bureau for its admin."""
    stmt = sa.select(ReportRun).where(ReportRun.kind == KIND, ReportRun.tenant_id == user.tenant_id)
    if not can(user, "run.view_all"):
        stmt = stmt.where(ReportRun.requested_by_id == user.id)
    return list(db.session.execute(stmt.order_by(ReportRun.id.desc()).limit(limit)).scalars())


def describe(run: ReportRun) -> dict:
    """Phase, scope and as-of of a report run, for lists and the run page (names, not ids)."""
    data = getattr(run, "params", None) or {}
    phase = campaign = scope = None
    if data.get("phase_id"):
        row = db.session.execute(sa.select(Phase, Campaign).join(Campaign, Campaign.id == Phase.campaign_id)
                                 .where(Phase.id == int(data["phase_id"]))).first()
        if row:
            phase, campaign = row
    if data.get("scope_unit_id"):
        scope = db.session.execute(sa.select(OrgUnit).where(OrgUnit.id == int(data["scope_unit_id"]))).scalar_one_or_none()

    scope_name = ("全市（各县区汇总）" if scope is not None and scope.parent_id is None and is_city_scope(scope)
                  else scope.name if scope is not None else "")
    return {"phase": phase.name if phase else "", "campaign": campaign.title if campaign else "",
            "scope": scope_name, "as_of": data.get("as_of") or "", "cutoff": data.get("cutoff") or ""}
