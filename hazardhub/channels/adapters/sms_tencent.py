"""SMS through 腾讯云短信 (``SendSms``, API version 2021-01-11), signed with TC3-HMAC-SHA256.

Contract (腾讯云 API 3.0 “签名方法 v3”, https://cloud.tencent.com/document/api/382/52072, and
“发送短信”, https://cloud.tencent.com/document/api/382/55981):

- ``POST https://sms.tencentcloudapi.com/`` with headers ``Content-Type: application/json;
  charset=utf-8``, ``Host``, ``X-TC-Action: SendSms``, ``X-TC-Version: 2021-01-11``,
  ``X-TC-Timestamp`` (Unix seconds), ``X-TC-Region`` and ``Authorization``; JSON body
  ``{"PhoneNumberSet": ["+86…"], "SmsSdkAppId", "SignName", "TemplateId", "TemplateParamSet": [...]}``;
- ``CanonicalRequest = "POST\\n/\\n\\n" + "content-type:application/json; charset=utf-8\\nhost:{host}\\n"
  + "x-tc-action:sendsms\\n" + "\\n" + "content-type;host;x-tc-action\\n" + hex(SHA256(body))``;
- ``StringToSign = "TC3-HMAC-SHA256\\n{timestamp}\\n{date}/sms/tc3_request\\n" + hex(SHA256(CanonicalRequest))``
  (``date`` the UTC date of the timestamp);
- key chain ``HMAC("TC3"+SecretKey, date) → HMAC(·, "sms") → HMAC(·, "tc3_request")``, signature the
  hex HMAC of StringToSign; ``Authorization: TC3-HMAC-SHA256 Credential={SecretId}/{date}/sms/tc3_request,
  SignedHeaders=content-type;host;x-tc-action, Signature={signature}``;
- answer ``{"Response": {"SendStatusSet": [{"Code": "Ok", "SerialNo": …}], "RequestId": …}}``; a
  request error is ``{"Response": {"Error": {"Code", "Message"}}}``. Retried: ``RequestLimitExceeded``,
  ``InternalError*``, ``LimitExceeded.PhoneNumber*`` (per-number frequency); everything else
  (``AuthFailure.SignatureFailure``, ``FailedOperation.TemplateIncorrectOrUnapproved`` …) is permanent.

Assumption: the bureau's approved template (模板 ID) takes one parameter, the notice (≤ 35 characters).
"""
from __future__ import annotations

import hashlib
import hmac
import json
import time
import urllib.request
from datetime import datetime, timezone
from urllib.parse import urlsplit

from hazardhub.channels.adapters.base import DeliveryError, Field, Message, request_json
from hazardhub.channels.adapters.sms_aliyun import short

KIND = "sms_tencent"
LABEL = "腾讯云短信"
FIELDS = (
    Field("secret_id", "SecretId"),
    Field("sdk_app_id", "短信应用 SdkAppId"),
    Field("sign_name", "短信签名（已审核）"),
    Field("template_id", "通知模板 ID（已审核，一个参数）"),
    Field("region", "地域（默认 ap-guangzhou）", required=False),
    Field("secret_key", "SecretKey", secret=True),
)
BASE_URL = "https://sms.tencentcloudapi.com"
CONTENT_TYPE = "application/json; charset=utf-8"
SIGNED_HEADERS = "content-type;host;x-tc-action"


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def authorization(secret_id: str, secret_key: str, host: str, body: bytes, timestamp: int) -> str:
    day = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
    canonical = "\n".join(["POST", "/", "", f"content-type:{CONTENT_TYPE}\nhost:{host}\nx-tc-action:sendsms\n",
                           SIGNED_HEADERS, hashlib.sha256(body).hexdigest()])
    scope = f"{day}/sms/tc3_request"
    to_sign = f"TC3-HMAC-SHA256\n{timestamp}\n{scope}\n{hashlib.sha256(canonical.encode('utf-8')).hexdigest()}"
    key = _hmac(_hmac(_hmac(f"TC3{secret_key}".encode("utf-8"), day), "sms"), "tc3_request")
    signature = hmac.new(key, to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return f"TC3-HMAC-SHA256 Credential={secret_id}/{scope}, SignedHeaders={SIGNED_HEADERS}, Signature={signature}"


def send(settings: dict, secrets: dict, message: Message, address: str | None, *, base_url: str | None = None,
         timestamp: int | None = None) -> str:
    if not address:
        raise DeliveryError("收件人没有手机号", permanent=True)
    url = (base_url or BASE_URL).rstrip("/") + "/"
    host = urlsplit(url).netloc
    phone = address if address.startswith("+") else f"+86{address}"
    body = json.dumps({"PhoneNumberSet": [phone], "SmsSdkAppId": settings["sdk_app_id"],
                       "SignName": settings["sign_name"], "TemplateId": settings["template_id"],
                       "TemplateParamSet": [short(message.subject)]}, ensure_ascii=False).encode("utf-8")
    stamp = timestamp or int(time.time())  # the provider compares with real time (5 minutes' tolerance)
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": CONTENT_TYPE, "Host": host, "X-TC-Action": "SendSms", "X-TC-Version": "2021-01-11",
        "X-TC-Timestamp": str(stamp), "X-TC-Region": settings.get("region") or "ap-guangzhou",
        "Authorization": authorization(settings["secret_id"], secrets["secret_key"], host, body, stamp)})
    answer = request_json(request).get("Response", {})
    error = answer.get("Error")
    if error:
        code = error.get("Code", "")
        raise DeliveryError(f"腾讯云短信 {code}：{error.get('Message', '')}",
                            permanent=not (code == "RequestLimitExceeded" or code.startswith("InternalError")))
    status = (answer.get("SendStatusSet") or [{}])[0]
    code = status.get("Code")
    if code == "Ok":
        return str(status.get("SerialNo") or "ok")
    raise DeliveryError(f"腾讯云短信 {code}：{status.get('Message', '')}",
                        permanent=not str(code).startswith("LimitExceeded.PhoneNumber"))
