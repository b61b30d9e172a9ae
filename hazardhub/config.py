"""Settings, read from ``HAZARDHUB_*`` environment variables.

Why environment variables: the same image runs the first-run demo (nothing set: SQLite under
``instance/``, jobs in-process) and production (PostgreSQL, Redis, a real secret), and several
gunicorn hosts must agree on settings without a shared file.
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

#: the checkout: ``migrations/``, ``templates/``, ``tenants/`` and the default ``instance/`` sit here
#: (on the ground floor, so the CLI and devtools need not import the ``hazardhub`` package itself)
ROOT = Path(__file__).resolve().parent.parent


class ConfigError(RuntimeError):
    """A setting is missing or invalid; raised at start-up, never mid-request."""


def _instance_path(root: Path) -> Path:
    return Path(os.environ.get("HAZARDHUB_INSTANCE_PATH", root / "instance"))


def _secret_key(env: str, instance: Path) -> str:
    """Return the secret key.

    Production must set ``HAZARDHUB_SECRET_KEY`` (several hosts share it). Elsewhere a key is
    generated once and kept under instance/, so demo sessions survive a restart.
    """
    key = os.environ.get("HAZARDHUB_SECRET_KEY")
    if key:
        return key
    if env == "production":
        raise ConfigError("HAZARDHUB_SECRET_KEY must be set when HAZARDHUB_ENV=production")
    instance.mkdir(parents=True, exist_ok=True)
    path = instance / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def load_config(root: Path) -> dict:
    """Build the Flask config mapping from the environment."""
    env = os.environ.get("HAZARDHUB_ENV", "development")
    instance = _instance_path(root)
    instance.mkdir(parents=True, exist_ok=True)
    database_url = os.environ.get(
        "HAZARDHUB_DATABASE_URL", f"sqlite:///{instance / 'hazardhub.sqlite3'}"
    )
    production = env == "production"
    return {
        "HAZARDHUB_ENV": env,
        "SECRET_KEY": _secret_key(env, instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "HAZARDHUB_REDIS_URL": os.environ.get("HAZARDHUB_REDIS_URL") or None,
        "HAZARDHUB_STORAGE_PATH": os.environ.get("HAZARDHUB_STORAGE_PATH", str(instance / "files")),
        "HAZARDHUB_INSTANCE_PATH": str(instance),
        "HAZARDHUB_PDF_FONT": os.environ.get("HAZARDHUB_PDF_FONT"),
        "HAZARDHUB_IDLE_MINUTES": int(os.environ.get("HAZARDHUB_IDLE_MINUTES", "30")),
        # 等保 lockout, counted per (account, client address): hazardhub/accounts/auth.py lockout_until
        "HAZARDHUB_LOCKOUT_ATTEMPTS": 5,
        "HAZARDHUB_LOCKOUT_MINUTES": 15,
        # failed logins that slow (429), never lock: hazardhub/accounts/throttle.py
        "HAZARDHUB_LOGIN_LIMIT_PER_ADDRESS": os.environ.get("HAZARDHUB_LOGIN_LIMIT_PER_ADDRESS", "20/minute;100/hour"),
        "HAZARDHUB_LOGIN_LIMIT_PER_ACCOUNT": os.environ.get("HAZARDHUB_LOGIN_LIMIT_PER_ACCOUNT", "10/minute"),
        # reverse proxies in front that append X-Forwarded-For (0: trust only the socket address)
        "HAZARDHUB_PROXY_COUNT": int(os.environ.get("HAZARDHUB_PROXY_COUNT", "0")),
        # imports (hazardhub/spreadsheets.py): data rows of one file; rows read, blank ones included;
        # seconds one upload may spend being read
        "HAZARDHUB_MAX_IMPORT_ROWS": int(os.environ.get("HAZARDHUB_MAX_IMPORT_ROWS", "5000")),
        "HAZARDHUB_IMPORT_MAX_SHEET_ROWS": int(os.environ.get("HAZARDHUB_IMPORT_MAX_SHEET_ROWS", "20000")),
        "HAZARDHUB_IMPORT_MAX_SECONDS": float(os.environ.get("HAZARDHUB_IMPORT_MAX_SECONDS", "10")),
        # computed figures kept per process, keyed by the data version (hazardhub/datacache.py); 0: off
        "HAZARDHUB_DATA_CACHE_ENTRIES": int(os.environ.get("HAZARDHUB_DATA_CACHE_ENTRIES", "256")),
        "HAZARDHUB_MAX_EVIDENCE_MB": float(os.environ.get("HAZARDHUB_MAX_EVIDENCE_MB", "10")),
        "HAZARDHUB_MAX_EVIDENCE_PIXELS": int(os.environ.get("HAZARDHUB_MAX_EVIDENCE_PIXELS", "50000000")),
        "HAZARDHUB_MAX_VIDEO_MB": float(os.environ.get("HAZARDHUB_MAX_VIDEO_MB", "200")),
        # channels (hazardhub/channels): links in messages are absolute from this base; secrets are
        # encrypted with HAZARDHUB_CHANNEL_KEY (a Fernet key) or, unset, a key derived from SECRET_KEY;
        # provider base URLs are settable so tests (and a proxy) can stand in for the provider
        "HAZARDHUB_BASE_URL": os.environ.get("HAZARDHUB_BASE_URL", "http://127.0.0.1:5000"),
        "HAZARDHUB_CHANNEL_KEY": os.environ.get("HAZARDHUB_CHANNEL_KEY") or None,
        "HAZARDHUB_CHANNEL_URLS": {
            "wecom": os.environ.get("HAZARDHUB_WECOM_URL", "https://qyapi.weixin.qq.com"),
            "dingtalk": os.environ.get("HAZARDHUB_DINGTALK_URL", "https://oapi.dingtalk.com"),
            "sms_aliyun": os.environ.get("HAZARDHUB_ALIYUN_SMS_URL", "https://dysmsapi.aliyuncs.com"),
            "sms_tencent": os.environ.get("HAZARDHUB_TENCENT_SMS_URL", "https://sms.tencentcloudapi.com"),
        },
        # 随手拍 (hazardhub/publicreports): the address printed in poster QR codes (the public site);
        # the Fernet key of reporters' phone numbers (else derived from SECRET_KEY); the public
        # form's rate limits per client address and per code; days after closure a phone is erased
        "HAZARDHUB_PUBLIC_BASE_URL": (os.environ.get("HAZARDHUB_PUBLIC_BASE_URL")
                                      or os.environ.get("HAZARDHUB_BASE_URL", "http://127.0.0.1:5000")),
        "HAZARDHUB_PHONE_KEY": os.environ.get("HAZARDHUB_PHONE_KEY"),
        "HAZARDHUB_PUBLIC_LIMIT_PER_ADDRESS": os.environ.get("HAZARDHUB_PUBLIC_LIMIT_PER_ADDRESS", "5/10minutes;20/day"),
        "HAZARDHUB_PUBLIC_LIMIT_PER_CODE": os.environ.get("HAZARDHUB_PUBLIC_LIMIT_PER_CODE", "30/hour;100/day"),
        "HAZARDHUB_PHONE_RETENTION_DAYS": int(os.environ.get("HAZARDHUB_PHONE_RETENTION_DAYS", "30")),
        # one request, files included; the campaign video upload raises its own (hazardhub/httprequest.py).
        # Werkzeug's other two limits stay at Flask's defaults: MAX_FORM_MEMORY_SIZE (500 KB) bounds
        # one text field of a multipart form (no field allows more than 4,000 characters, ~12 KB) and
        # does not apply to urlencoded forms; MAX_FORM_PARTS (1,000) bounds the parts of a multipart form.
        "MAX_CONTENT_LENGTH": int(os.environ.get("HAZARDHUB_MAX_UPLOAD_MB", "64")) * 1024 * 1024,
        "PERMANENT_SESSION_LIFETIME": timedelta(
            minutes=int(os.environ.get("HAZARDHUB_IDLE_MINUTES", "30"))
        ),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_SECURE": production,
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        "BOOTSTRAP_SERVE_LOCAL": True,
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }
