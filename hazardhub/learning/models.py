"""Learning sessions (三学): who organised which session, at which level, and who attended.

The campaign's monthly 三学 has three levels: the bureau's own safety supervisors (本系统、本单位
安全监管人员), the principals of every school (学校主要负责人), and each school's whole staff
(全体教职工). A session hangs on its organising unit; attendees are recorded as the membership
they attended in (user, unit, role), so "the principal of school X attended" is one row.
"""
from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import hazardhub.audit  # noqa: F401 - make_versioned must run before versioned models
import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hazardhub.audit import VERSIONED, HistorySpec
from hazardhub.changeindex import FigureUnits
from hazardhub.clock import utcnow
from hazardhub.db import Base, TenantScoped, TimestampMixin, tenant_fk
from hazardhub.policy import Protected, Ref

LEVELS = {
    "bureau_staff": "本系统、本单位安全监管人员学习",
    "principals": "学校主要负责人学习",
    "all_staff": "全体教职工学习",
}
SHORT_LEVELS = {"bureau_staff": "监管人员", "principals": "主要负责人", "all_staff": "全体教职工"}
FORMS = {
    "expert_lecture": "专家授课",
    "video": "视频教学",
    "case_study": "案例分析",
    "group_discussion": "小组讨论",
    "self_study": "个人自学",
    "knowledge_contest": "知识竞赛",
    "speech_contest": "演讲比赛",
}
#: which kinds of unit organise which level
LEVEL_UNIT_KINDS = {
    "bureau_staff": ("bureau",),
    "principals": ("bureau", "township_center"),
    "all_staff": ("school", "affiliated_school"),
}


class LearningSession(TenantScoped, TimestampMixin, Base):
    """One 三学 session held by one unit."""

    __tablename__ = "learning_sessions"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "unit_id"))
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(own=("unit_id",), children=(("learning_attendees", "session_id", "unit_id"),))
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "id"),
        tenant_fk("unit_id", "org_units"),
        tenant_fk("created_by_id", "users"),
        sa.Index("ix_learning_sessions_tenant_held_on", "tenant_id", "held_on"),
        sa.CheckConstraint("level IN ('bureau_staff','principals','all_staff')", name="level"),
        sa.CheckConstraint(
            "form IN ('expert_lecture','video','case_study','group_discussion','self_study',"
            "'knowledge_contest','speech_contest')", name="form"),
        sa.CheckConstraint("hours > 0", name="hours"),
        sa.CheckConstraint("headcount IS NULL OR headcount >= 0", name="headcount"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    #: the organising unit (bureau, township central school or school)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: materialised path of the unit, copied so scope filters need no join
    unit_path: Mapped[str] = mapped_column(sa.String(255), index=True, nullable=False)
    level: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    form: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    held_on: Mapped[date] = mapped_column(nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    hours: Mapped[Decimal] = mapped_column(sa.Numeric(4, 1), nullable=False)
    speaker: Mapped[str | None] = mapped_column(sa.String(60))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    #: number present when attendees are not listed one by one (large all-staff sessions)
    headcount: Mapped[int | None] = mapped_column()
    materials_note: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, nullable=False)
    version_id: Mapped[int] = mapped_column(default=1, nullable=False)
    __mapper_args__ = {"version_id_col": version_id}

    unit = relationship("OrgUnit", primaryjoin="LearningSession.unit_id == OrgUnit.id", foreign_keys=[unit_id],
                        viewonly=True, lazy="joined")

    @property
    def level_label(self) -> str:
        return LEVELS.get(self.level, self.level)

    @property
    def short_level(self) -> str:
        return SHORT_LEVELS.get(self.level, self.level)

    @property
    def form_label(self) -> str:
        return FORMS.get(self.form, self.form)


class LearningStandard(TenantScoped, TimestampMixin, Base):
    """A standard a session covered, with the title as it was when recorded."""

    __tablename__ = "learning_standards"
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(via=(("learning_sessions", "session_id", "unit_id"),))
    __table_args__ = (
        tenant_fk("session_id", "learning_sessions"),
        sa.UniqueConstraint("session_id", "standard_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the catalogue standard (owned by this tenant or its city)
    standard_id: Mapped[int] = mapped_column(sa.ForeignKey("standards.id"), index=True, nullable=False)
    standard_title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    #: nothing is deleted: a standard taken off the session stays, marked inactive
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)


class LearningAttendee(TenantScoped, TimestampMixin, Base):
    """One person present, as the role they held on a unit (the school whose principal came)."""

    __tablename__ = "learning_attendees"
    #: what policy reads: the unit it belongs to, what viewing it needs (hazardhub.policy.Protected)
    __policy__ = Protected(unit=Ref("OrgUnit", "unit_id"))
    __versioned__ = VERSIONED
    #: the units whose kept figures its changes touch (hazardhub/changeindex.py)
    __figure_units__ = FigureUnits(own=("unit_id",), via=(("learning_sessions", "session_id", "unit_id"),))
    __table_args__ = (
        tenant_fk("session_id", "learning_sessions"),
        tenant_fk("user_id", "users"),
        tenant_fk("unit_id", "org_units"),
        sa.UniqueConstraint("session_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(index=True, nullable=False)
    user_id: Mapped[int] = mapped_column(index=True, nullable=False)
    #: the unit the person attended for (their membership's unit)
    unit_id: Mapped[int] = mapped_column(index=True, nullable=False)
    role: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    #: name snapshot, so the list reads the same after a rename
    display_name: Mapped[str] = mapped_column(sa.String(60), nullable=False)
    #: nothing is deleted: a person taken off the list stays, marked inactive
    is_active: Mapped[bool] = mapped_column(default=True, nullable=False)


LEARNING_LABELS = {
    "unit_id": "组织单位", "level": "学习层级", "form": "学习形式", "held_on": "学习日期", "title": "学习主题",
    "hours": "学时", "speaker": "主讲人", "summary": "内容摘要", "headcount": "参加人数",
    "materials_note": "学习资料", "created_by_id": "登记人", "created_at": "登记时间",
}


#: what a learning record's history shows, its standards and attendees included (hazardhub/auditlog/timeline.py)
LearningSession.__history__ = HistorySpec(
    labels=LEARNING_LABELS,
    choices={"level": LEVELS, "form": FORMS},
    hidden=("unit_path",),
    name=lambda s: s.title,
    children=(("LearningStandard", "session_id"), ("LearningAttendee", "session_id")),
)
LearningStandard.__history__ = HistorySpec(
    labels={"is_active": "有效"}, hidden=("standard_id", "standard_title"),
    name=lambda s: s.standard_title, child_label="学习的标准", brief=True,
)
LearningAttendee.__history__ = HistorySpec(
    labels={"is_active": "有效"}, hidden=("user_id", "unit_id", "role", "display_name"),
    name=lambda a: a.display_name, child_label="参加人员", brief=True,
)
