"""The one interface every channel implements, and the registry of adapters.

An adapter is a module with ``KIND``, ``LABEL``, ``FIELDS`` (what the settings page asks for, and
which of it is secret) and ``send(settings, secrets, message, address) -> str``. ``send`` returns the
provider's receipt (a message id or "ok") or raises :class:`DeliveryError`, whose ``permanent`` says
whether a retry could help (rate limit, provider down: no; bad key, wrong signature: yes). Adding a
provider is one new module and one line in :data:`ADAPTERS`.
"""
from __future__ import annotations

from hazardhub.channels.adapters import dingtalk, email, sms_aliyun, sms_tencent, wecom
from hazardhub.channels.adapters.base import (  # noqa: F401 - the interface, re-exported for callers
    TIMEOUT,
    DeliveryError,
    Field,
    Message,
    get_json,
    post_json,
    request_json,
)

#: every adapter by its ``KIND``
ADAPTERS = {module.KIND: module for module in (wecom, dingtalk, email, sms_aliyun, sms_tencent)}
#: group robots (one per unit's work group) versus person-addressed channels (one per bureau)
GROUP_KINDS = ("wecom", "dingtalk")
PERSON_KINDS = ("email", "sms_aliyun", "sms_tencent")
#: person channels that address a phone number (a bureau uses one SMS provider)
SMS_KINDS = ("sms_aliyun", "sms_tencent")
