"""钉钉 custom robot (自定义机器人), signed (加签).

Contract (钉钉开放平台 “自定义机器人安全设置 / 发送群消息”,
https://open.dingtalk.com/document/robots/customize-robot-security-settings):
``POST https://oapi.dingtalk.com/robot/send?access_token=T&timestamp=MS&sign=S`` where
``S = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{MS}\\n{secret}")))`` (UTF-8, MS the current
time in milliseconds, at most an hour off), body ``{"msgtype": "markdown", "markdown": {"title":
..., "text": ...}}``; the answer is ``{"errcode": 0, "errmsg": "ok"}``. Documented errors handled:
130101 (more than 20 messages a minute: retry later), 310000 (signature, keyword or IP check
failed: permanent), 300001/400102 (token invalid / robot stopped: permanent).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from urllib.parse import quote_plus, urlencode

from hazardhub.channels.adapters.base import DeliveryError, Field, Message, post_json

KIND = "dingtalk"
LABEL = "钉钉自定义机器人"
FIELDS = (
    Field("access_token", "access_token（Webhook 地址中 access_token= 后的部分）", secret=True),
    Field("secret", "加签密钥（SEC 开头）", secret=True),
)
BASE_URL = "https://oapi.dingtalk.com"
RETRYABLE = {-1, 130101}


def sign(secret: str, timestamp_ms: int) -> str:
    """The documented signature, already URL-encoded as it goes into the query."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest))


def send(settings: dict, secrets: dict, message: Message, address: str | None, *, base_url: str | None = None,
         now_ms: int | None = None) -> str:
    timestamp = now_ms if now_ms is not None else int(time.time() * 1000)  # the provider checks real time
    query = urlencode({"access_token": secrets["access_token"], "timestamp": timestamp})
    url = f"{(base_url or BASE_URL).rstrip('/')}/robot/send?{query}&sign={sign(secrets['secret'], timestamp)}"
    answer = post_json(url, {"msgtype": "markdown", "markdown": {"title": message.subject[:50], "text": message.markdown}})
    code = answer.get("errcode")
    if code == 0:
        return "ok"
    raise DeliveryError(f"钉钉 errcode {code}：{answer.get('errmsg', '')}", permanent=code not in RETRYABLE)
