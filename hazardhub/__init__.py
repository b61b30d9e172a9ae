"""HazardHub: the application factory. No import-time side effects beyond model definitions."""
from __future__ import annotations

from typing import Any, Mapping

from flask import Flask

from hazardhub.config import ROOT, load_config
from hazardhub.db import configure_engine
from hazardhub.extensions import bootstrap, csrf, db, login_manager, migrate

TEMPLATES = ROOT / "templates"


def install_listeners() -> None:
    """Register HazardHub's global Session listeners, in this order (idempotent).

    Listeners of one event run in registration order, so the order is written here rather than
    left to import order. SQLAlchemy-Continuum's own listeners are registered by ``make_versioned``
    when ``hazardhub.audit`` is imported, before all of these.

    1. tenancy     — scope every ORM SELECT; stamp/check ``tenant_id`` (before_flush, first)
    2. audit       — seal each committing transaction into its tenant's chain (before_commit)
       changeindex — note the units each flush touched, for the seal's link (after_flush, first)
    3. inspections — refuse a flush that changes a signed inspection (before_flush, after 1)
    4. datacache   — note that a transaction flushed, so cached figures are bypassed
    5. formtokens  — record the page a one-shot form created (after_flush, after 4)
    6. channels    — queue planned deliveries after commit; forget them on rollback (last)
    """
    # the areas are imported when an app is built, not with the package: every ``import hazardhub.x``
    # (the ground floor included) runs this file first, and must not load the whole application
    from hazardhub import audit, changeindex, datacache, formtokens, tenancy
    from hazardhub.channels import operations as channel_ops
    from hazardhub.inspections import operations as inspection_ops

    tenancy.install_scoping()
    audit.install_sealing()
    changeindex.install_change_tracking()
    inspection_ops.install_frozen_guard()
    datacache.install_flush_tracking()
    formtokens.install_outcome_capture()
    channel_ops.install_delivery_queueing()


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: settings from the environment, overridden by ``config`` (tests)."""
    # the areas are imported here, not with the package (see install_listeners); models first:
    # mappers configured, version classes built
    from hazardhub import models  # noqa: F401
    from hazardhub import web
    from hazardhub.accountability.views import bp as accountability_bp
    from hazardhub.accounts.auth import init_auth
    from hazardhub.accounts.views import bp as accounts_bp
    from hazardhub.auditlog.views import bp as audit_bp
    from hazardhub.campaigns.views import bp as campaigns_bp
    from hazardhub.channels.views import bp as channels_bp
    from hazardhub.citywide.views import bp as citywide_bp
    from hazardhub.compliance.views import bp as compliance_bp
    from hazardhub.directives.views import bp as directives_bp
    from hazardhub.evidence.views import bp as evidence_bp
    from hazardhub.hazards.excel_views import bp as ledger_excel_bp
    from hazardhub.hazards.views import bp as hazards_bp
    from hazardhub.inspections.views import bp as inspections_bp
    from hazardhub.learning.views import bp as learning_bp
    from hazardhub.notifications.views import bp as notifications_bp
    from hazardhub.orgs.views import bp as orgs_bp
    from hazardhub.platform.cli import register_cli
    from hazardhub.policy import check_template_actions
    from hazardhub.publicreports.views import init_publicreports
    from hazardhub.reports.views import bp as reports_bp
    from hazardhub.runs.views import bp as runs_bp
    from hazardhub.standards.views import bp as standards_bp

    app = Flask(
        __name__,
        template_folder=str(TEMPLATES),
        static_folder="static",
        instance_path=str(ROOT / "instance"),
    )
    app.config.update(load_config(ROOT))
    if config:
        app.config.update(config)
    if app.config.get("HAZARDHUB_PROXY_COUNT"):
        # request.remote_addr (login throttle and lockout, the audit trail) from X-Forwarded-For,
        # trusting exactly that many proxies; never the header when no proxy is configured
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["HAZARDHUB_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    install_listeners()
    db.init_app(app)
    with app.app_context():
        configure_engine(db.engine)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"), compare_type=True)
    csrf.init_app(app)
    bootstrap.init_app(app)
    login_manager.init_app(app)

    init_auth(app)
    web.init_web(app)
    app.register_blueprint(accounts_bp)
    app.register_blueprint(orgs_bp)
    app.register_blueprint(runs_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(audit_bp)
    app.register_blueprint(ledger_excel_bp)
    app.register_blueprint(evidence_bp)
    app.register_blueprint(hazards_bp)
    app.register_blueprint(inspections_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(citywide_bp)
    app.register_blueprint(compliance_bp)
    app.register_blueprint(learning_bp)
    app.register_blueprint(standards_bp)
    app.register_blueprint(notifications_bp)
    app.register_blueprint(channels_bp)
    app.register_blueprint(directives_bp)
    app.register_blueprint(accountability_bp)
    init_publicreports(app)
    register_cli(app)
    check_template_actions(TEMPLATES)
    return app
