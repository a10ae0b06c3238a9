"""Signing and verifying the way Alipay's SDKs do, and reading keys in the forms consoles hand out."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

from ingest_alipay.errors import BadSignature
from ingest_alipay.signature import (
    load_private_key,
    load_public_key,
    public_key_base64,
    sign,
    signing_content,
    verify_notify,
)

BIZ = "<XML><Text><Content><![CDATA[路灯坏了]]></Content></Text><MsgType><![CDATA[text]]></MsgType></XML>"
PARAMS = {
    "service": "alipay.mobile.public.message.notify",
    "sign_type": "RSA2",
    "charset": "GBK",
    "biz_content": BIZ,
    "app_id": "",
}
# Written out by hand: sorted keys, empty app_id dropped, sign_type kept (the gateway's "V2" check).
CONTENT_V2 = f"biz_content={BIZ}&charset=GBK&service=alipay.mobile.public.message.notify&sign_type=RSA2"


def alipay_signs(key: RSAPrivateKey, content: str, *, algorithm: hashes.HashAlgorithm, charset: str) -> str:
    """Alipay's side, written independently of the code under test."""
    return base64.b64encode(key.sign(content.encode(charset), padding.PKCS1v15(), algorithm)).decode()


def test_signing_content_sorts_drops_empty_values_and_sign() -> None:
    params = {**PARAMS, "sign": "c2ln"}
    assert signing_content(params, exclude_sign_type=False) == CONTENT_V2
    assert signing_content(params, exclude_sign_type=True) == CONTENT_V2.removesuffix("&sign_type=RSA2")


def test_a_gbk_notify_signed_by_alipay_verifies(alipay_key: RSAPrivateKey) -> None:
    signature = alipay_signs(alipay_key, CONTENT_V2, algorithm=hashes.SHA256(), charset="gbk")
    verify_notify({**PARAMS, "sign": signature}, alipay_key.public_key(), charset="GBK")


def test_a_tampered_value_is_refused(alipay_key: RSAPrivateKey) -> None:
    signature = alipay_signs(alipay_key, CONTENT_V2, algorithm=hashes.SHA256(), charset="gbk")
    tampered = {**PARAMS, "sign": signature, "biz_content": BIZ.replace("路灯", "井盖")}
    with pytest.raises(BadSignature, match="does not match"):
        verify_notify(tampered, alipay_key.public_key(), charset="GBK")


def test_a_notify_signed_by_another_key_is_refused(alipay_key: RSAPrivateKey, app_key: RSAPrivateKey) -> None:
    signature = alipay_signs(app_key, CONTENT_V2, algorithm=hashes.SHA256(), charset="gbk")
    with pytest.raises(BadSignature):
        verify_notify({**PARAMS, "sign": signature}, alipay_key.public_key(), charset="GBK")


def test_rsa_sign_type_is_sha1_with_rsa(alipay_key: RSAPrivateKey) -> None:
    params = {**PARAMS, "sign_type": "RSA"}
    content = CONTENT_V2.replace("sign_type=RSA2", "sign_type=RSA")
    signature = alipay_signs(alipay_key, content, algorithm=hashes.SHA1(), charset="gbk")
    verify_notify({**params, "sign": signature}, alipay_key.public_key(), charset="GBK")
    # The same SHA1 signature claimed as RSA2 must not pass.
    with pytest.raises(BadSignature):
        verify_notify({**params, "sign_type": "RSA2", "sign": signature}, alipay_key.public_key(), charset="GBK")


def test_an_unknown_sign_type_is_refused_by_name(alipay_key: RSAPrivateKey) -> None:
    signature = alipay_signs(alipay_key, CONTENT_V2, algorithm=hashes.SHA256(), charset="gbk")
    with pytest.raises(BadSignature, match="unsupported sign_type 'MD5'"):
        verify_notify({**PARAMS, "sign_type": "MD5", "sign": signature}, alipay_key.public_key(), charset="GBK")


def test_a_missing_or_garbled_sign_is_refused(alipay_key: RSAPrivateKey) -> None:
    with pytest.raises(BadSignature, match="no sign"):
        verify_notify(PARAMS, alipay_key.public_key(), charset="GBK")
    with pytest.raises(BadSignature, match="not base64"):
        verify_notify({**PARAMS, "sign": "%%%"}, alipay_key.public_key(), charset="GBK")


def test_a_plus_turned_into_a_space_still_verifies(alipay_key: RSAPrivateKey) -> None:
    # Find a signature with a "+" in it, then damage it the way an unescaped form field would be.
    for n in range(50):
        params = {**PARAMS, "biz_content": f"{BIZ}{n}"}
        content = signing_content(params, exclude_sign_type=False)
        signature = alipay_signs(alipay_key, content, algorithm=hashes.SHA256(), charset="gbk")
        if "+" in signature:
            break
    verify_notify({**params, "sign": signature.replace("+", " ")}, alipay_key.public_key(), charset="GBK")


def test_sign_produces_what_alipay_verifies(app_key: RSAPrivateKey) -> None:
    signature = sign("a=1&b=中文", app_key, sign_type="RSA2", charset="utf-8")
    app_key.public_key().verify(base64.b64decode(signature), "a=1&b=中文".encode(), padding.PKCS1v15(), hashes.SHA256())
    with pytest.raises(ValueError, match="unsupported sign_type"):
        sign("a=1", app_key, sign_type="DSA")


def test_keys_load_from_pem_and_from_the_bare_base64_consoles_show(app_key: RSAPrivateKey) -> None:
    public = app_key.public_key()
    pkcs8 = app_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    pkcs1_der = app_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )
    bare = public_key_base64(public)
    wrapped = "\n".join(bare[i : i + 64] for i in range(0, len(bare), 64))  # as pasted from a PEM body

    for private_text in (pkcs8, "".join(pkcs8.splitlines()[1:-1]), base64.b64encode(pkcs1_der).decode()):
        assert load_private_key(private_text).private_numbers() == app_key.private_numbers()
    for public_text in (
        bare,
        wrapped,
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode(),
    ):
        assert load_public_key(public_text).public_numbers() == public.public_numbers()


@pytest.mark.parametrize("text", ["", "not base64!", base64.b64encode(b"not a key").decode()])
def test_unreadable_keys_say_so(text: str) -> None:
    with pytest.raises(ValueError, match="not a readable public key"):
        load_public_key(text)
    with pytest.raises(ValueError, match="not a readable unencrypted private key"):
        load_private_key(text)
