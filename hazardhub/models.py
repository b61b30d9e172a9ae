"""Import every model, then configure mappers once (Continuum builds version classes here).

Alembic's env.py, the app factory and the worker import this module; nothing else needs to.
"""
import hazardhub.audit  # noqa: F401 - make_versioned before any versioned model
import sqlalchemy as sa

from hazardhub.accounts.models import LoginAttempt, Membership, User, UserSession  # noqa: F401
from hazardhub.audit import AuditChainHead, AuditChainLink  # noqa: F401
from hazardhub.orgs.models import OrgUnit, Tenant  # noqa: F401
from hazardhub.runs.models import ReportRun  # noqa: F401
from hazardhub.standards.models import RuleGroup, Standard, StandardItem  # noqa: F401
from hazardhub.hazards.models import Hazard, HazardCitation, HazardCounter  # noqa: F401
from hazardhub.evidence.models import Attachment  # noqa: F401
from hazardhub.inspections.models import Inspection, InspectionItem, LeaderAssignment, SignOff  # noqa: F401
from hazardhub.learning.models import LearningAttendee, LearningSession, LearningStandard  # noqa: F401
from hazardhub.campaigns.models import Campaign, Deliverable, DeliverableFile, DeliverableSpec, Phase  # noqa: F401
from hazardhub.citywide.models import ChainVerification, WitnessedHead  # noqa: F401
from hazardhub.notifications.models import Notification  # noqa: F401
from hazardhub.accountability.models import AccountabilityFinding  # noqa: F401
from hazardhub.directives.models import Directive, DirectiveCounter, DirectiveHazard, DirectivePhoto, Escalation  # noqa: F401
from hazardhub.formtokens import FormSubmission  # noqa: F401
from hazardhub.channels.models import BureauChannelSettings, ChannelConfig, ChannelPreference, Delivery  # noqa: F401
from hazardhub.publicreports.models import PublicReport, ReportCode, ReportContact, ReportPhoto  # noqa: F401

sa.orm.configure_mappers()


def _sqlite_friendly_transaction_id() -> None:
    """Continuum's ``transaction.id`` is BIGINT; on SQLite only INTEGER PRIMARY KEY autoincrements.

    The variant keeps BIGINT (with its sequence) on PostgreSQL and gives SQLite a rowid key.
    """
    from sqlalchemy_continuum import versioning_manager

    column = versioning_manager.transaction_cls.__table__.c.id
    column.type = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


_sqlite_friendly_transaction_id()
