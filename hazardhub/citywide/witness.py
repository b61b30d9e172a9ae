"""The outside witness: the city keeps the chain heads its districts' sign-offs and reports
carried, and checks each district's chain against them.

Why: a district's own ``audit verify`` recomputes its chain from its own tables, so somebody who
rewrites history by SQL *and* recomputes every link afterwards passes it. The heads the city
recorded at sign-off, report and verification time are out of the district's reach (city rows,
sealed on the city's chain); the link at each witnessed ``seq`` must still hash to what the city
saw, or the district's history was rewritten.

One transaction belongs to one tenant, so recording is always a separate transaction bound to the
city, committed *after* the district's own commit (:func:`record_head`). A failure to record is
logged and never undoes the district's work; the next verification records a fresh head.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from hazardhub.audit import GENESIS, AuditChainHead, AuditChainLink, ChainReport, tx_meta, verify_chain
from hazardhub.citywide.models import SOURCE_KINDS, ChainVerification, WitnessedHead
from hazardhub.clock import utcnow
from hazardhub.extensions import db
from hazardhub.orgs.models import Tenant
from hazardhub.tenancy import TenantScope, tenant_bound

log = logging.getLogger(__name__)

#: problems listed in a verification message (the CLI prints the full list)
MESSAGE_PROBLEMS = 5


def parent_city_id(tenant_id: int) -> int | None:
    """The city a district belongs to (``None`` for a city or an orphan tenant).

    ``tenants`` is a platform table without tenant rows: no scope is needed to read it.
    """
    return db.session.execute(
        sa.select(Tenant.parent_id).where(Tenant.id == tenant_id, Tenant.kind == "district")
    ).scalar_one_or_none()


def parse_head(head: str | tuple[int, str]) -> tuple[int, str]:
    """``"12:abcd…"`` or ``(12, "abcd…")`` → ``(12, "abcd…")``."""
    if isinstance(head, tuple):
        return int(head[0]), str(head[1])
    seq, _, digest = str(head).partition(":")
    return int(seq), digest


def record_head(district_tenant_id: int, head: str | tuple[int, str], *, source_kind: str,
                source_id: int | None) -> WitnessedHead | None:
    """Record in the parent city that the district's chain had ``head`` (own city transaction).

    Call after the district's change is committed. Never raises: the district's sign-off or
    report stands even when the city could not record it (logged).

    :param source_kind: ``signoff``, ``report`` or ``verification``
    :param source_id: the sign-off or run id in the district (verification: the result's id)
    """
    if source_kind not in SOURCE_KINDS:
        raise ValueError(source_kind)
    try:
        city_id = parent_city_id(district_tenant_id)
        if city_id is None:
            return None
        seq, digest = parse_head(head)
        with tenant_bound(TenantScope.single(city_id)):
            row = WitnessedHead(tenant_id=city_id, district_tenant_id=district_tenant_id, seq=seq,
                                head_hash=digest, source_kind=source_kind, source_id=source_id)
            db.session.add(row)
            tx_meta(reason=f"市教育局记录县区审计链头（{SOURCE_KINDS[source_kind]}，第 {seq} 环）")
            db.session.commit()
            return row
    except Exception:  # noqa: BLE001 - the district's own work must stand; see the docstring
        db.session.rollback()
        log.exception("could not witness the chain head of tenant %s", district_tenant_id)
        return None


@dataclass
class WitnessCheck:
    """The district's chain compared with every head the city holds."""

    heads_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_witnessed(conn: sa.Connection, district_tenant_id: int, city_tenant_id: int) -> WitnessCheck:
    """Each witnessed head must still be the link hash at its ``seq`` (Core, explicit tenants).

    One outer join: only mismatches come back, so 100 000 witnessed heads cost one indexed query.
    """
    wt, lt = WitnessedHead.__table__, AuditChainLink.__table__
    mine = (wt.c.tenant_id == city_tenant_id) & (wt.c.district_tenant_id == district_tenant_id)
    result = WitnessCheck()
    result.heads_checked = conn.execute(sa.select(sa.func.count()).select_from(wt).where(mine)).scalar_one()
    bad = conn.execute(
        sa.select(wt.c.seq, wt.c.head_hash, wt.c.source_kind, wt.c.source_id, wt.c.recorded_at, lt.c.link_hash)
        .select_from(wt.outerjoin(lt, (lt.c.tenant_id == district_tenant_id) & (lt.c.seq == wt.c.seq)))
        .where(mine, wt.c.seq > 0, sa.or_(lt.c.link_hash.is_(None), lt.c.link_hash != wt.c.head_hash))
        .order_by(wt.c.seq)
    ).all()
    genesis_bad = conn.execute(
        sa.select(sa.func.count()).select_from(wt).where(mine, wt.c.seq == 0, wt.c.head_hash != GENESIS)
    ).scalar_one()
    if genesis_bad:
        result.problems.append(f"{genesis_bad} 个见证的起始链头不是创世哈希")
    for row in bad:
        label = SOURCE_KINDS.get(row.source_kind, row.source_kind)
        where = f"{label}#{row.source_id}" if row.source_id else label
        if row.link_hash is None:
            result.problems.append(f"市局见证的第 {row.seq} 环（{where}）在县区审计链中已不存在（链被截断或改写）")
        else:
            result.problems.append(
                f"市局见证的第 {row.seq} 环（{where}）哈希 {row.head_hash[:12]}… 与县区现有链 "
                f"{row.link_hash[:12]}… 不符：历史被改写")
    return result


@dataclass
class Outcome:
    """One district verified: its own chain and the city's witnessed heads."""

    tenant: Tenant
    report: ChainReport
    witness: WitnessCheck | None
    head: tuple[int, str]

    @property
    def ok(self) -> bool:
        return self.report.ok and (self.witness is None or self.witness.ok)

    @property
    def problems(self) -> list[str]:
        return [*self.report.problems, *((self.witness.problems) if self.witness else [])]

    def message(self) -> str:
        if self.ok:
            checked = self.witness.heads_checked if self.witness else 0
            return f"一致：审计链 {self.report.links} 环完好，市局见证的 {checked} 个链头全部吻合"
        shown = self.problems[:MESSAGE_PROBLEMS]
        more = len(self.problems) - len(shown)
        return "不一致：" + "；".join(shown) + (f"；另有 {more} 个问题" if more > 0 else "")


def verify_tenant(conn: sa.Connection, tenant: Tenant) -> Outcome:
    """Recompute the tenant's chain and, for a district, compare it with the city's heads."""
    report = verify_chain(conn, tenant.id)
    witness = None
    if tenant.kind == "district" and tenant.parent_id is not None:
        witness = check_witnessed(conn, tenant.id, tenant.parent_id)
    head_row = conn.execute(
        sa.select(AuditChainHead.__table__.c.seq, AuditChainHead.__table__.c.head_hash)
        .where(AuditChainHead.__table__.c.tenant_id == tenant.id)
    ).first()
    head = (head_row.seq, head_row.head_hash) if head_row else (0, GENESIS)
    return Outcome(tenant=tenant, report=report, witness=witness, head=head)


def record_outcome(outcome: Outcome, *, triggered_by: str) -> ChainVerification | None:
    """Store a district's verification result in its city (own city transaction); when the chain
    holds, the city also witnesses the head it just verified."""
    tenant = outcome.tenant
    if tenant.kind != "district" or tenant.parent_id is None:
        return None
    city_id = tenant.parent_id
    with tenant_bound(TenantScope.single(city_id)):
        result = ChainVerification(
            tenant_id=city_id, district_tenant_id=tenant.id, verified_at=utcnow(), is_ok=outcome.ok,
            links=outcome.report.links, heads_checked=outcome.witness.heads_checked if outcome.witness else 0,
            message=outcome.message()[:4000], triggered_by=triggered_by)
        db.session.add(result)
        db.session.flush()
        seq, digest = outcome.head
        if outcome.ok and seq > 0:
            already = db.session.execute(
                sa.select(WitnessedHead.id).where(WitnessedHead.district_tenant_id == tenant.id,
                                                  WitnessedHead.seq == seq, WitnessedHead.head_hash == digest)
            ).first()
            if already is None:
                db.session.add(WitnessedHead(tenant_id=city_id, district_tenant_id=tenant.id, seq=seq,
                                             head_hash=digest, source_kind="verification", source_id=result.id))
        tx_meta(reason=f"核验{tenant.name}审计链：{'一致' if outcome.ok else '不一致'}")
        db.session.commit()
        return result


def verify_and_record(tenant: Tenant, *, triggered_by: str) -> tuple[Outcome, ChainVerification | None]:
    """Verify one district now and record the result in its city (the page's button)."""
    conn = db.session.connection()
    outcome = verify_tenant(conn, tenant)
    db.session.rollback()  # end the read transaction before the city's write transaction
    return outcome, record_outcome(outcome, triggered_by=triggered_by)


@dataclass
class DistrictWitness:
    """What the city's page shows for one district."""

    verified_at: datetime | None
    is_ok: bool | None
    message: str
    heads: int
    last_head_at: datetime | None


def witness_summary(city_id: int, district_ids: list[int]) -> dict[int, DistrictWitness]:
    """Latest verification and witnessed-head count per district (two grouped queries)."""
    if not district_ids:
        return {}
    latest = (sa.select(ChainVerification.district_tenant_id, sa.func.max(ChainVerification.id).label("last_id"))
              .where(ChainVerification.tenant_id == city_id, ChainVerification.district_tenant_id.in_(district_ids))
              .group_by(ChainVerification.district_tenant_id).subquery())
    verifications = {v.district_tenant_id: v for v in db.session.execute(
        sa.select(ChainVerification).join(latest, latest.c.last_id == ChainVerification.id)).scalars()}
    heads = {row.district_tenant_id: row for row in db.session.execute(
        sa.select(WitnessedHead.district_tenant_id, sa.func.count().label("n"),
                  sa.func.max(WitnessedHead.recorded_at).label("last_at"))
        .where(WitnessedHead.tenant_id == city_id, WitnessedHead.district_tenant_id.in_(district_ids))
        .group_by(WitnessedHead.district_tenant_id))}
    summary = {}
    for tid in district_ids:
        v, h = verifications.get(tid), heads.get(tid)
        summary[tid] = DistrictWitness(
            verified_at=v.verified_at if v else None, is_ok=v.is_ok if v else None,
            message=v.message if v else "尚未核验", heads=h.n if h else 0, last_head_at=h.last_at if h else None)
    return summary
