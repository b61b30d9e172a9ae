"""Each adapter against the provider's documented contract: a local server checks every request
exactly (path, query, headers, JSON fields, a signature recomputed here independently) and answers
with the documented success and error bodies."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime, timezone
from urllib.parse import quote

import pytest

from hazardhub.channels.adapters import DeliveryError, Message
from hazardhub.channels.adapters import dingtalk, email, sms_aliyun, wecom

MESSAGE = Message(subject="【整改指令】一镇第一小学：请于12月10日前完成整改",
                  text="整改指令 ZL-2026-001 已下达，请签收。", url="https://hh.example.cn/directives/7",
                  markdown="### 【整改指令】一镇第一小学\n\n整改指令 ZL-2026-001 已下达，请签收。\n\n[查看详情](https://hh.example.cn/directives/7)")

# ---------------------------------------------------------------------------------------------
# 企业微信


def wecom_contract(key: str, answer: dict):
    def check(seen):
        assert seen.method == "POST" and seen.path == "/cgi-bin/webhook/send"
        assert seen.query == [("key", key)]
        assert seen.headers["content-type"].startswith("application/json")
        body = seen.json()
        if set(body) != {"msgtype", "markdown"} or body["msgtype"] != "markdown" \
                or set(body["markdown"]) != {"content"} or not body["markdown"]["content"]:
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(body["markdown"]["content"].encode("utf-8")) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        return 200, answer
    return check


def test_wecom_posts_documented_markdown_and_accepts_errcode_0(provider):
    provider.check = wecom_contract("KEY-693a", {"errcode": 0, "errmsg": "ok"})
    assert wecom.send({}, {"key": "KEY-693a"}, MESSAGE, None, base_url=provider.url) == "ok"
    content = provider.seen[0].json()["markdown"]["content"]
    assert "ZL-2026-001" in content and "[查看详情](https://hh.example.cn/directives/7)" in content


def test_wecom_long_content_is_cut_to_the_documented_4096_bytes(provider):
    provider.check = wecom_contract("K", {"errcode": 0, "errmsg": "ok"})
    long = Message(subject="长", text="长", markdown="隐" * 3000)
    wecom.send({}, {"key": "K"}, long, None, base_url=provider.url)
    assert len(provider.seen[0].json()["markdown"]["content"].encode("utf-8")) <= 4096


@pytest.mark.parametrize("errcode, permanent", [(45009, False), (93000, True), (-1, False)])
def test_wecom_documented_errors_retry_or_fail(provider, errcode, permanent):
    provider.check = wecom_contract("K", {"errcode": errcode, "errmsg": "api freq out of limit" if errcode == 45009
                                          else "invalid webhook url"})
    with pytest.raises(DeliveryError) as caught:
        wecom.send({}, {"key": "K"}, MESSAGE, None, base_url=provider.url)
    assert caught.value.permanent is permanent and str(errcode) in str(caught.value)


# ---------------------------------------------------------------------------------------------
# 钉钉


def dingtalk_contract(token: str, secret: str):
    """The robot's check, written from the documentation: timestamp within an hour, sign =
    base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded in the query."""
    def check(seen):
        assert seen.method == "POST" and seen.path == "/robot/send"
        query = dict(seen.query)
        assert set(query) == {"access_token", "timestamp", "sign"}
        if query["access_token"] != token:
            return 200, {"errcode": 300001, "errmsg": "token is not exist"}
        expected = base64.b64encode(hmac.new(secret.encode(), f"{query['timestamp']}\n{secret}".encode(),
                                             hashlib.sha256).digest()).decode()
        # the raw query carries the URL-encoded value (+, / and = escaped)
        assert f"sign={quote(query['sign'], safe='')}" in seen.raw_query
        if query["sign"] != expected:
            return 200, {"errcode": 310000, "errmsg": "sign not match"}
        body = seen.json()
        if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("title") \
                or not body["markdown"].get("text"):
            return 200, {"errcode": 40035, "errmsg": "缺少参数 json"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    return check


def test_dingtalk_signs_as_documented(provider):
    provider.check = dingtalk_contract("tok-1", "SEC0123456789abcdef")
    assert dingtalk.send({}, {"access_token": "tok-1", "secret": "SEC0123456789abcdef"}, MESSAGE, None,
                         base_url=provider.url) == "ok"
    body = provider.seen[0].json()
    assert body["markdown"]["title"] == MESSAGE.subject and "ZL-2026-001" in body["markdown"]["text"]


def test_dingtalk_wrong_secret_fails_the_signature_check_permanently(provider):
    provider.check = dingtalk_contract("tok-1", "SEC-right")
    with pytest.raises(DeliveryError) as caught:
        dingtalk.send({}, {"access_token": "tok-1", "secret": "SEC-wrong"}, MESSAGE, None, base_url=provider.url)
    assert caught.value.permanent and "310000" in str(caught.value)


def test_dingtalk_known_signature_vector():
    """Independent of the code under test: the value Python's reference snippet in the docs gives."""
    expected = quote(base64.b64encode(hmac.new(b"this is secret", b"1700000000000\nthis is secret",
                                               hashlib.sha256).digest()).decode(), safe="")
    assert dingtalk.sign("this is secret", 1700000000000) == expected


def test_dingtalk_rate_limit_is_retried(provider):
    provider.check = lambda seen: (200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"})
    with pytest.raises(DeliveryError) as caught:
        dingtalk.send({}, {"access_token": "t", "secret": "s"}, MESSAGE, None, base_url=provider.url)
    assert caught.value.permanent is False


# ---------------------------------------------------------------------------------------------
# 阿里云短信


def _aliyun_encode(value: str) -> str:
    return quote(value, safe="-_.~")


def aliyun_contract(access_key_id: str, access_key_secret: str):
    """Recompute the RPC v1 signature from the received query as the documentation describes."""
    required = {"AccessKeyId", "Action", "Format", "RegionId", "SignatureMethod", "SignatureNonce",
                "SignatureVersion", "Timestamp", "Version", "PhoneNumbers", "SignName", "TemplateCode",
                "TemplateParam", "Signature"}

    def check(seen):
        assert seen.method == "GET" and seen.path == "/"
        params = dict(seen.query)
        missing = required - set(params)
        if missing:
            return 400, {"Code": "MissingParameter", "Message": f"missing {sorted(missing)}", "RequestId": "r"}
        assert params["Action"] == "SendSms" and params["Version"] == "2017-05-25"
        assert params["SignatureMethod"] == "HMAC-SHA1" and params["SignatureVersion"] == "1.0"
        assert params["Format"] == "JSON"
        datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ")
        if params["AccessKeyId"] != access_key_id:
            return 404, {"Code": "InvalidAccessKeyId.NotFound", "Message": "Specified access key is not found.",
                         "RequestId": "r"}
        signature = params.pop("Signature")
        canonical = "&".join(f"{_aliyun_encode(k)}={_aliyun_encode(v)}" for k, v in sorted(params.items()))
        to_sign = "GET&%2F&" + _aliyun_encode(canonical)
        expected = base64.b64encode(hmac.new(f"{access_key_secret}&".encode(), to_sign.encode(),
                                             hashlib.sha1).digest()).decode()
        if signature != expected:
            return 400, {"Code": "SignatureDoesNotMatch", "Message": "Specified signature is not matched",
                         "RequestId": "r"}
        json.loads(params["TemplateParam"])
        return 200, {"Code": "OK", "Message": "OK", "BizId": "900619746936498440^0", "RequestId": "F655A8D5"}
    return check


SMS_SETTINGS = {"access_key_id": "LTAI5tExample", "sign_name": "许昌市教育局", "template_code": "SMS_154950909"}


def test_aliyun_sms_signs_the_canonical_query_as_documented(provider):
    provider.check = aliyun_contract("LTAI5tExample", "secret/with+chars")
    receipt = sms_aliyun.send(SMS_SETTINGS, {"access_key_secret": "secret/with+chars"}, MESSAGE, "13800138000",
                              base_url=provider.url)
    assert receipt == "900619746936498440^0"
    params = dict(provider.seen[0].query)
    assert params["PhoneNumbers"] == "13800138000" and params["SignName"] == "许昌市教育局"
    assert params["TemplateCode"] == "SMS_154950909"
    content = json.loads(params["TemplateParam"])["content"]
    assert len(content) <= 35 and content.startswith("【整改指令】")


def test_aliyun_documented_example_signature():
    """The worked example of Alibaba Cloud's signature documentation (secret ``testsecret``)."""
    params = {"AccessKeyId": "testid", "Action": "DescribeRegions", "Format": "XML",
              "SignatureMethod": "HMAC-SHA1", "SignatureNonce": "3ee8c1b8-83d3-44af-a94f-4e0ad82fd6cf",
              "SignatureVersion": "1.0", "Timestamp": "2016-02-23T12:46:24Z", "Version": "2014-05-26"}
    assert sms_aliyun.signature(params, "testsecret") == "OLeaidS1JvxuMvnyHOwuJ+uX5qY="


def test_aliyun_wrong_secret_is_a_permanent_failure(provider):
    provider.check = aliyun_contract("LTAI5tExample", "right")
    with pytest.raises(DeliveryError) as caught:
        sms_aliyun.send(SMS_SETTINGS, {"access_key_secret": "wrong"}, MESSAGE, "13800138000", base_url=provider.url)
    assert caught.value.permanent and "SignatureDoesNotMatch" in str(caught.value)


def test_aliyun_rate_limit_is_retried(provider):
    provider.check = lambda seen: (200, {"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1",
                                         "RequestId": "r"})
    with pytest.raises(DeliveryError) as caught:
        sms_aliyun.send(SMS_SETTINGS, {"access_key_secret": "s"}, MESSAGE, "13800138000", base_url=provider.url)
    assert caught.value.permanent is False


def test_a_provider_that_is_down_is_a_transient_error(dead_port):
    with pytest.raises(DeliveryError) as caught:
        wecom.send({}, {"key": "K"}, MESSAGE, None, base_url=dead_port)
    assert caught.value.permanent is False


# ---------------------------------------------------------------------------------------------
# email


def test_email_goes_through_a_real_smtp_server_with_starttls(smtp_server):
    host, port, received, context = smtp_server
    settings = {"host": host, "port": str(port), "security": "starttls", "username": "", "sender": "aqk@jyj.example.cn"}
    assert email.send(settings, {}, MESSAGE, "principal@school.example.cn", context=context) == "ok"
    assert len(received) == 1
    envelope = received[0]
    assert envelope.mail_from == "aqk@jyj.example.cn" and envelope.rcpt_tos == ["principal@school.example.cn"]
    from email import message_from_bytes, policy

    mail = message_from_bytes(envelope.original_content, policy=policy.default)
    assert mail["Subject"] == MESSAGE.subject
    assert "ZL-2026-001" in mail.get_content() and "https://hh.example.cn/directives/7" in mail.get_content()


def test_email_without_starttls_is_refused_by_a_server_that_requires_it(smtp_server):
    host, port, received, _context = smtp_server
    settings = {"host": host, "port": str(port), "security": "none", "username": "", "sender": "aqk@jyj.example.cn"}
    with pytest.raises(DeliveryError):
        email.send(settings, {}, MESSAGE, "principal@school.example.cn")
    assert received == []


# ---------------------------------------------------------------------------------------------
# 腾讯云短信


def tencent_contract(secret_id: str, secret_key: str):
    """Recompute TC3-HMAC-SHA256 from the received request as the documentation describes."""
    def check(seen):
        assert seen.method == "POST" and seen.path == "/" and seen.raw_query == ""
        headers = seen.headers
        assert headers["content-type"] == "application/json; charset=utf-8"
        assert headers["x-tc-action"] == "SendSms" and headers["x-tc-version"] == "2021-01-11"
        assert headers["x-tc-region"] and headers["x-tc-timestamp"].isdigit()
        timestamp = int(headers["x-tc-timestamp"])
        day = datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d")
        canonical = (f"POST\n/\n\ncontent-type:application/json; charset=utf-8\nhost:{headers['host']}\n"
                     f"x-tc-action:sendsms\n\ncontent-type;host;x-tc-action\n{hashlib.sha256(seen.body).hexdigest()}")
        to_sign = (f"TC3-HMAC-SHA256\n{timestamp}\n{day}/sms/tc3_request\n"
                   f"{hashlib.sha256(canonical.encode()).hexdigest()}")
        key = f"TC3{secret_key}".encode()
        for part in (day, "sms", "tc3_request"):
            key = hmac.new(key, part.encode(), hashlib.sha256).digest()
        expected = (f"TC3-HMAC-SHA256 Credential={secret_id}/{day}/sms/tc3_request, "
                    f"SignedHeaders=content-type;host;x-tc-action, "
                    f"Signature={hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()}")
        if headers.get("authorization") != expected:
            return 200, {"Response": {"Error": {"Code": "AuthFailure.SignatureFailure",
                                                "Message": "The provided credentials could not be validated."},
                                      "RequestId": "r"}}
        body = seen.json()
        missing = {"PhoneNumberSet", "SmsSdkAppId", "SignName", "TemplateId", "TemplateParamSet"} - set(body)
        if missing:
            return 200, {"Response": {"Error": {"Code": "MissingParameter", "Message": str(sorted(missing))},
                                      "RequestId": "r"}}
        return 200, {"Response": {"SendStatusSet": [{"SerialNo": "5000:1045710669157053657849499619", "PhoneNumber":
                                                     body["PhoneNumberSet"][0], "Fee": 1, "SessionContext": "",
                                                     "Code": "Ok", "Message": "send success", "IsoCode": "CN"}],
                                  "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}}
    return check


TENCENT = {"secret_id": "AKIDexample", "sdk_app_id": "1400006666", "sign_name": "许昌市教育局", "template_id": "449739"}


def test_tencent_sms_signs_tc3_as_documented(provider):
    from hazardhub.channels.adapters import sms_tencent

    provider.check = tencent_contract("AKIDexample", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE")
    receipt = sms_tencent.send(TENCENT, {"secret_key": "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE"}, MESSAGE, "13800138000",
                               base_url=provider.url)
    assert receipt.startswith("5000:")
    body = provider.seen[0].json()
    assert body["PhoneNumberSet"] == ["+8613800138000"] and body["TemplateId"] == "449739"
    assert body["TemplateParamSet"][0].startswith("【整改指令】") and len(body["TemplateParamSet"][0]) <= 35


def test_tencent_wrong_key_is_a_permanent_signature_failure(provider):
    from hazardhub.channels.adapters import sms_tencent

    provider.check = tencent_contract("AKIDexample", "right")
    with pytest.raises(DeliveryError) as caught:
        sms_tencent.send(TENCENT, {"secret_key": "wrong"}, MESSAGE, "13800138000", base_url=provider.url)
    assert caught.value.permanent and "AuthFailure.SignatureFailure" in str(caught.value)


def test_tencent_frequency_limit_is_retried(provider):
    from hazardhub.channels.adapters import sms_tencent

    provider.check = lambda seen: (200, {"Response": {"SendStatusSet": [{
        "Code": "LimitExceeded.PhoneNumberThirtySecondLimit", "Message": "单个手机号30秒内下发短信条数超过设定的上限"}],
        "RequestId": "r"}})
    with pytest.raises(DeliveryError) as caught:
        sms_tencent.send(TENCENT, {"secret_key": "k"}, MESSAGE, "13800138000", base_url=provider.url)
    assert caught.value.permanent is False
