"""Email over SMTP (the standard library's smtplib), STARTTLS on 587 or implicit TLS on 465.

Permanent: authentication refused, the recipient refused (5xx); transient: connection trouble,
timeouts, 4xx answers (greylisting, a full queue).
"""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage

from hazardhub.channels.adapters.base import TIMEOUT, DeliveryError, Field, Message

KIND = "email"
LABEL = "电子邮件（SMTP）"
FIELDS = (
    Field("host", "SMTP 服务器"),
    Field("port", "端口（465 为 SSL，587 为 STARTTLS）"),
    Field("security", "加密方式：ssl、starttls 或 none"),
    Field("username", "登录账号", required=False),
    Field("sender", "发件人地址"),
    Field("password", "登录密码或授权码", secret=True, required=False),
)
SECURITY = ("ssl", "starttls", "none")


def build(settings: dict, message: Message, address: str) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = settings["sender"]
    mail["To"] = address
    mail.set_content(message.text + (f"\n\n查看详情：{message.url}" if message.url else ""))
    return mail


def send(settings: dict, secrets: dict, message: Message, address: str | None, *, base_url: str | None = None,
         context: ssl.SSLContext | None = None) -> str:
    if not address:
        raise DeliveryError("收件人没有邮箱地址", permanent=True)
    host, port, security = settings["host"], int(settings.get("port") or 465), settings.get("security", "ssl")
    context = context or ssl.create_default_context()
    try:
        if security == "ssl":
            client = smtplib.SMTP_SSL(host, port, timeout=TIMEOUT, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=TIMEOUT)
        with client:
            if security == "starttls":
                client.starttls(context=context)
            if settings.get("username"):
                client.login(settings["username"], secrets.get("password", ""))
            refused = client.send_message(build(settings, message, address))
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP 登录失败：{exc.smtp_code}", permanent=True) from exc
    except smtplib.SMTPRecipientsRefused as exc:
        code = next(iter(exc.recipients.values()))[0]
        raise DeliveryError(f"收件人被拒收：{code}", permanent=code >= 500) from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP {exc.smtp_code}", permanent=exc.smtp_code >= 500) from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"无法连接邮件服务器：{exc}") from exc
    if refused:
        raise DeliveryError(f"收件人被拒收：{refused}", permanent=True)
    return "ok"
