"""``flask tenants apply``: create or update tenants and their units from tenants/.

One folder per tenant: ``tenant.toml`` (the bureau) and optionally ``units.csv`` (its units, the
same columns as the admin import). Idempotent: a second run changes nothing and writes no version
rows. Never deletes. Commits once per tenant, so each commit belongs to one tenant's audit chain.
Initial admin accounts get a one-time password, printed once and never stored in clear.

This is the platform CLI: one of the two unscoped paths (``all_tenants=True``), by design.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from hazardhub.accounts import operations as account_ops
from hazardhub.accounts.models import User
from hazardhub.audit import GENESIS, AuditChainHead, annotate
from hazardhub.errors import DomainError
from hazardhub.extensions import db
from hazardhub.orgs import operations as org_ops
from hazardhub.orgs.models import TENANT_KINDS, OrgUnit, Tenant
from hazardhub.orgs.unit_rows import parse_unit_rows, read_table
from hazardhub.standards.operations import load_shipped
from hazardhub.tenancy import invalidate_tenant_cache
from hazardhub.tenancy import tenant_bound

TENANT_FIELDS = ("name", "short_name", "kind", "region_code", "doc_prefix")


class ProvisioningError(DomainError):
    """A tenants/ file is invalid; nothing of that tenant is written."""


@dataclass
class TenantSpec:
    folder: Path
    slug: str
    name: str
    short_name: str
    kind: str
    parent: str | None
    region_code: str | None
    doc_prefix: str | None
    bureau: dict
    admins: list[dict] = field(default_factory=list)


def read_specs(root: Path) -> list[TenantSpec]:
    specs = []
    for toml_path in sorted(root.glob("*/tenant.toml")):
        data = tomllib.loads(toml_path.read_text(encoding="utf-8"))
        try:
            spec = TenantSpec(
                folder=toml_path.parent, slug=data["slug"], name=data["name"],
                short_name=data["short_name"], kind=data["kind"], parent=data.get("parent"),
                region_code=data.get("region_code"), doc_prefix=data.get("doc_prefix"),
                bureau=data["bureau"], admins=data.get("admins", []),
            )
        except KeyError as exc:
            raise ProvisioningError(f"{toml_path}: missing key {exc}") from exc
        if spec.kind not in TENANT_KINDS:
            raise ProvisioningError(f"{toml_path}: kind must be city or district")
        if spec.slug != toml_path.parent.name:
            raise ProvisioningError(f"{toml_path}: slug {spec.slug!r} must equal the folder name")
        specs.append(spec)
    # cities first so districts find their parent
    return sorted(specs, key=lambda s: (s.kind != "city", s.slug))


def _tenant_by_slug(slug: str) -> Tenant | None:
    return db.session.execute(
        sa.select(Tenant).where(Tenant.slug == slug).execution_options(all_tenants=True)
    ).scalar_one_or_none()


def apply_tenant(spec: TenantSpec, log) -> list[tuple[str, str, str]]:
    """Create/update one tenant; returns ``(username, password, role)`` of new admin accounts."""
    parent = _tenant_by_slug(spec.parent) if spec.parent else None
    if spec.parent and parent is None:
        raise ProvisioningError(f"{spec.slug}: parent tenant {spec.parent!r} not found")
    tenant = _tenant_by_slug(spec.slug)
    values = {f: getattr(spec, f) for f in TENANT_FIELDS}
    values["parent_id"] = parent.id if parent else None
    if tenant is None:
        tenant = Tenant(slug=spec.slug, **values)
        db.session.add(tenant)
        db.session.flush()
        db.session.add(AuditChainHead(tenant_id=tenant.id, seq=0, head_hash=GENESIS))
        db.session.commit()
        log(f"新建租户 {spec.slug}（{spec.name}）")
    else:
        changed = [k for k, v in values.items() if getattr(tenant, k) != v]
        for key in changed:
            setattr(tenant, key, values[key])
        if changed:
            db.session.commit()
            log(f"更新租户 {spec.slug}：{', '.join(changed)}")
    new_accounts = []
    with tenant_bound(tenant.id):
        root = org_ops.root_unit(tenant.id)
        bureau = spec.bureau
        if root is None:
            root = org_ops.create_unit(
                None, tenant_id=tenant.id, code=bureau["code"], name=bureau.get("name", spec.name),
                kind="bureau", commit=False, address=bureau.get("address"),
                contact_name=bureau.get("contact_name"), contact_phone=bureau.get("contact_phone"),
            )
            log(f"  新建本级单位 {root.name}")
        else:
            wanted = {"name": bureau.get("name", spec.name), "address": bureau.get("address"),
                      "contact_name": bureau.get("contact_name"), "contact_phone": bureau.get("contact_phone")}
            for key, value in wanted.items():
                if getattr(root, key) != value:
                    setattr(root, key, value)
                    log(f"  更新本级单位 {key}")
        if spec.kind == "city":
            load_shipped(tenant.id, log=log)
        units_csv = spec.folder / "units.csv"
        if units_csv.exists():
            with units_csv.open("rb") as fh:
                parsed = parse_unit_rows(read_table(units_csv.name, fh, 100000))
            if parsed.errors:
                db.session.rollback()
                raise ProvisioningError(
                    f"{units_csv}: " + "; ".join(f"第 {line} 行：{msg}" for line, msg in parsed.errors)
                )
            result = org_ops.apply_unit_rows(parsed.rows, root, reason="按 tenants/ 配置导入单位", commit=False)
            if result.errors:
                db.session.rollback()
                raise ProvisioningError(
                    f"{units_csv}: " + "; ".join(f"第 {line} 行：{msg}" for line, msg in result.errors)
                )
            if result.created:
                log(f"  新增单位 {len(result.created)} 个")
            if result.updated:
                log(f"  更新单位 {len(result.updated)} 个：{', '.join(result.updated)}")
        annotate(reason=f"按 tenants/ 配置开通：{spec.name}")
        db.session.commit()
        for admin in spec.admins:
            exists = db.session.execute(
                sa.select(User.id).where(User.username == admin["username"]).execution_options(all_tenants=True)
            ).first()
            if exists:
                continue
            unit = root
            if admin.get("unit_code"):
                unit = db.session.execute(sa.select(OrgUnit).where(OrgUnit.code == admin["unit_code"])).scalar_one()
            _user, password = account_ops.create_user(
                username=admin["username"], display_name=admin["display_name"], phone=None,
                unit=unit, role=admin["role"],
            )
            new_accounts.append((admin["username"], password, admin["role"]))
            log(f"  新建管理员账号 {admin['username']}")
    return new_accounts


def apply_all(root: Path, log=print) -> list[tuple[str, str, str, str]]:
    """Apply every tenant folder under ``root``; returns new accounts with tenant slugs."""
    created = []
    for spec in read_specs(root):
        for username, password, role in apply_tenant(spec, log):
            created.append((spec.slug, username, password, role))
    invalidate_tenant_cache()
    return created
