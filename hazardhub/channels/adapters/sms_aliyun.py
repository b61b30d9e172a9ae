"""SMS through 阿里云短信服务 (Dysmsapi ``SendSms``, API version 2017-05-25), RPC signature v1.

Contract (阿里云 “RPC 风格签名机制 / Signature mechanism”,
https://help.aliyun.com/en/document_detail/130769.html, and the SendSms reference,
https://help.aliyun.com/zh/sms/developer-reference/api-dysmsapi-2017-05-25-sendsms):

- a GET on ``https://dysmsapi.aliyuncs.com/`` whose query holds the common parameters
  (``AccessKeyId``, ``Action=SendSms``, ``Format=JSON``, ``RegionId``, ``SignatureMethod=HMAC-SHA1``,
  ``SignatureNonce`` (a UUID), ``SignatureVersion=1.0``, ``Timestamp`` (UTC, ``YYYY-MM-DDThh:mm:ssZ``),
  ``Version=2017-05-25``) and the action's (``PhoneNumbers``, ``SignName``, ``TemplateCode``,
  ``TemplateParam`` as a JSON string), plus ``Signature``;
- canonical query: parameters sorted by name, name and value each percent-encoded (UTF-8; RFC 3986
  unreserved characters kept, space as ``%20``, ``*`` as ``%2A``, ``~`` kept), joined ``k=v`` with ``&``;
- ``StringToSign = "GET&%2F&" + percentEncode(canonical)``;
  ``Signature = base64(HMAC-SHA1(key=AccessKeySecret + "&", StringToSign))``;
- answer ``{"Code": "OK", "Message": "OK", "BizId": ..., "RequestId": ...}``; any other ``Code`` is
  an error. Retried: ``isv.BUSINESS_LIMIT_CONTROL`` (rate limit), ``Throttling.User``, ``isp.SYSTEM_ERROR``;
  everything else (``SignatureDoesNotMatch``, ``InvalidAccessKeyId.NotFound``,
  ``isv.MOBILE_NUMBER_ILLEGAL``, ``isv.SMS_TEMPLATE_ILLEGAL`` …) is permanent.

Assumption: the bureau's approved notice template (模板, e.g. ``SMS_123456789``) takes one variable
``content`` (at most 35 characters, the provider's limit for a notice variable), such as
“您有一条校园安全提醒：${content}，请登录隐患排查系统查看。”.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from datetime import datetime, timezone
from urllib.parse import quote, urlencode

from hazardhub.channels.adapters.base import DeliveryError, Field, Message, get_json

KIND = "sms_aliyun"
LABEL = "阿里云短信"
FIELDS = (
    Field("access_key_id", "AccessKey ID"),
    Field("sign_name", "短信签名（已审核）"),
    Field("template_code", "通知模板 CODE（已审核，变量 ${content}）"),
    Field("region", "地域（默认 cn-hangzhou）", required=False),
    Field("access_key_secret", "AccessKey Secret", secret=True),
)
BASE_URL = "https://dysmsapi.aliyuncs.com"
RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "Throttling.User", "isp.SYSTEM_ERROR", "ServiceUnavailable"}
#: characters of one template variable
VARIABLE_LIMIT = 35


def percent_encode(value: str) -> str:
    return quote(str(value), safe="~").replace("+", "%20").replace("*", "%2A")


def string_to_sign(params: dict[str, str], method: str = "GET") -> str:
    canonical = "&".join(f"{percent_encode(k)}={percent_encode(v)}" for k, v in sorted(params.items()))
    return f"{method}&{percent_encode('/')}&{percent_encode(canonical)}"


def signature(params: dict[str, str], access_key_secret: str) -> str:
    digest = hmac.new(f"{access_key_secret}&".encode("utf-8"), string_to_sign(params).encode("utf-8"),
                      hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def short(text: str) -> str:
    return text if len(text) <= VARIABLE_LIMIT else text[: VARIABLE_LIMIT - 1] + "…"


def send(settings: dict, secrets: dict, message: Message, address: str | None, *, base_url: str | None = None,
         timestamp: datetime | None = None, nonce: str | None = None) -> str:
    if not address:
        raise DeliveryError("收件人没有手机号", permanent=True)
    # the provider compares with real UTC time (15 minutes' tolerance), never the app's clock
    stamp = timestamp or datetime.fromtimestamp(time.time(), tz=timezone.utc)
    params = {
        "AccessKeyId": settings["access_key_id"], "Action": "SendSms", "Format": "JSON",
        "RegionId": settings.get("region") or "cn-hangzhou", "SignatureMethod": "HMAC-SHA1",
        "SignatureNonce": nonce or str(uuid.uuid4()), "SignatureVersion": "1.0",
        "Timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%SZ"), "Version": "2017-05-25",
        "PhoneNumbers": address, "SignName": settings["sign_name"], "TemplateCode": settings["template_code"],
        "TemplateParam": json.dumps({"content": short(message.subject)}, ensure_ascii=False),
    }
    query = urlencode({"Signature": signature(params, secrets["access_key_secret"]), **params}, quote_via=quote)
    answer = get_json(f"{(base_url or BASE_URL).rstrip('/')}/?{query}")
    code = answer.get("Code")
    if code == "OK":
        return str(answer.get("BizId") or "ok")
    raise DeliveryError(f"阿里云短信 {code}：{answer.get('Message', '')}", permanent=code not in RETRYABLE)
