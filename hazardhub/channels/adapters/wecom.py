"""企业微信 group robot (群机器人).

Contract (企业微信开发者中心 “群机器人配置说明”, https://developer.work.weixin.qq.com/document/path/91770):
``POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY`` with
``{"msgtype": "markdown", "markdown": {"content": "..."}}`` (content at most 4096 bytes, UTF-8);
the answer is ``{"errcode": 0, "errmsg": "ok"}``. Documented errors handled: 45009 (the robot's
20 messages a minute exceeded: retry later), -1 (system busy: retry), 93000 (invalid webhook key:
permanent) and any other non-zero code (permanent: the request itself is wrong).
"""
from __future__ import annotations

from urllib.parse import urlencode

from hazardhub.channels.adapters.base import DeliveryError, Field, Message, post_json

KIND = "wecom"
LABEL = "企业微信群机器人"
FIELDS = (Field("key", "Webhook key（群机器人地址中 key= 后的部分）", secret=True),)
BASE_URL = "https://qyapi.weixin.qq.com"
MAX_BYTES = 4096
RETRYABLE = {-1, 45009}


def payload(message: Message) -> dict:
    content = message.markdown
    while len(content.encode("utf-8")) > MAX_BYTES:
        content = content[: len(content) - 50] + "…"
    return {"msgtype": "markdown", "markdown": {"content": content}}


def send(settings: dict, secrets: dict, message: Message, address: str | None, *, base_url: str | None = None) -> str:
    url = f"{(base_url or BASE_URL).rstrip('/')}/cgi-bin/webhook/send?{urlencode({'key': secrets['key']})}"
    answer = post_json(url, payload(message))
    code = answer.get("errcode")
    if code == 0:
        return "ok"
    raise DeliveryError(f"企业微信 errcode {code}：{answer.get('errmsg', '')}", permanent=code not in RETRYABLE)
