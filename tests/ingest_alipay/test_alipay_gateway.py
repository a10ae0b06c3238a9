"""The signed answers Alipay expects back: gateway verification and message acks."""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey
from defusedxml.ElementTree import fromstring

from ingest_alipay.gateway import ack_response, verification_response
from ingest_alipay.signature import public_key_base64

ENVELOPE = re.compile(
    rb'^<\?xml version="1\.0" encoding="(?P<charset>[^"]+)"\?><alipay><response>(?P<response>.*)</response>'
    rb"<sign>(?P<sign>[^<]+)</sign><sign_type>(?P<sign_type>[^<]+)</sign_type></alipay>$",
    re.S,
)


def alipay_checks(document: bytes, app_public_key: RSAPublicKey) -> re.Match[bytes]:
    """What Alipay does with our answer: verify `sign` over the exact bytes inside <response>."""
    match = ENVELOPE.match(document)
    assert match, document
    algorithm = {b"RSA2": hashes.SHA256(), b"RSA": hashes.SHA1()}[match["sign_type"]]
    app_public_key.verify(base64.b64decode(match["sign"]), match["response"], padding.PKCS1v15(), algorithm)
    # And the whole answer is well-formed XML in its declared charset (expat reads no GBK bytes itself).
    fromstring(document.decode(match["charset"].decode()), forbid_dtd=True)
    return match


def test_the_verification_answer_is_gbk_signed_over_the_response_text(app_key: RSAPrivateKey) -> None:
    key_b64 = public_key_base64(app_key.public_key())

    document = verification_response(app_public_key_b64=key_b64, private_key=app_key)

    match = alipay_checks(document, app_key.public_key())
    assert match["charset"] == b"GBK"
    assert match["sign_type"] == b"RSA2"
    assert match["response"] == f"<success>true</success><biz_content>{key_b64}</biz_content>".encode("gbk")


def test_a_pem_app_key_is_sent_as_the_bare_base64_body(app_key: RSAPrivateKey) -> None:
    pem = (
        app_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )

    document = verification_response(app_public_key_b64=pem, private_key=app_key, sign_type="RSA")

    match = alipay_checks(document, app_key.public_key())
    assert f"<biz_content>{public_key_base64(app_key.public_key())}</biz_content>".encode() in match["response"]


def test_the_ack_names_the_sender_and_is_signed(app_key: RSAPrivateKey) -> None:
    now = datetime(2016, 1, 6, 12, 14, 8, 120000, tzinfo=UTC)

    document = ack_response(
        to_user_id="20881039297032193307797420113333", app_id="2016010601068750", private_key=app_key, now=now
    )

    match = alipay_checks(document, app_key.public_key())
    assert match["charset"] == b"GBK"
    ack = fromstring(match["response"].decode("gbk"), forbid_dtd=True)
    assert ack.tag == "XML"
    assert ack.findtext("ToUserId") == "20881039297032193307797420113333"
    assert ack.findtext("AppId") == "2016010601068750"
    assert ack.findtext("CreateTime") == "1452082448120"  # milliseconds
    assert ack.findtext("MsgType") == "ack"


def test_a_utf8_notify_gets_a_utf8_answer(app_key: RSAPrivateKey) -> None:
    document = ack_response(to_user_id="u", app_id="a", private_key=app_key, charset="UTF-8")
    assert alipay_checks(document, app_key.public_key())["charset"] == b"UTF-8"


def test_an_id_that_would_break_out_of_cdata_is_refused(app_key: RSAPrivateKey) -> None:
    with pytest.raises(ValueError, match="CDATA"):
        ack_response(to_user_id="u]]><MsgType>x</MsgType>", app_id="a", private_key=app_key)
