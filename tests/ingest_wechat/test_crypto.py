from __future__ import annotations

import pytest

from ingest_wechat import signature
from ingest_wechat.crypto import WeChatCrypto
from ingest_wechat.errors import BadSignature, MalformedPush
from ingest_wechat.parse import parse_xml

# The public test vector quoted in ../shared/channels/wechat.md (wechatpy tests/test_crypto.py).
TOKEN = "123456"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wx49f0ab532d5d035a"
TIMESTAMP = "1411525903"
NONCE = "461056294"
MSG_SIGNATURE = "74d92dfeb87ba7c714f89d98870ae5eb62dff26d"
ENCRYPT = (
    "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymz"
    "xh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hI"
    "iOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYE"
    "vccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0="
)


def crypto(app_id: str = APP_ID) -> WeChatCrypto:
    return WeChatCrypto(token=TOKEN, encoding_aes_key=AES_KEY, app_id=app_id)


def test_public_test_vector_decrypts() -> None:
    xml = crypto().decrypt(msg_signature=MSG_SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE, encrypted=ENCRYPT)
    fields = parse_xml(xml)
    assert fields["Content"] == "test"
    assert fields["FromUserName"] == "messense"
    assert fields["MsgId"] == "4363689963896700987"


def test_test_vector_with_a_wrong_signature_is_refused() -> None:
    with pytest.raises(BadSignature):
        crypto().decrypt(msg_signature="0" * 40, timestamp=TIMESTAMP, nonce=NONCE, encrypted=ENCRYPT)


def test_message_for_another_app_is_refused() -> None:
    with pytest.raises(BadSignature, match="another app"):
        crypto("wxsomeoneelse").decrypt(
            msg_signature=MSG_SIGNATURE, timestamp=TIMESTAMP, nonce=NONCE, encrypted=ENCRYPT
        )


def test_encrypt_then_decrypt_round_trips_chinese_text() -> None:
    xml = "<xml><Content><![CDATA[小区门口的路灯坏了三天]]></Content></xml>"
    encrypted, msg_signature = crypto().encrypt(xml, timestamp="1700000000", nonce="42")
    assert crypto().decrypt(msg_signature=msg_signature, timestamp="1700000000", nonce="42", encrypted=encrypted) == xml


@pytest.mark.parametrize("encrypted", ["not base64!!", "QUJD"])
def test_garbage_cipher_text_is_malformed(encrypted: str) -> None:
    sig = signature.sign(TOKEN, TIMESTAMP, NONCE, encrypted)
    with pytest.raises(MalformedPush):
        crypto().decrypt(msg_signature=sig, timestamp=TIMESTAMP, nonce=NONCE, encrypted=encrypted)


def test_encrypted_reply_envelope_carries_a_valid_signature() -> None:
    reply = crypto().encrypted_reply("<xml><Content>ok</Content></xml>", timestamp="1700000000", nonce="7")
    fields = parse_xml(reply)
    assert signature.verify(fields["MsgSignature"], TOKEN, "1700000000", "7", fields["Encrypt"])


def test_url_signature() -> None:
    sig = signature.sign("demo-token", "1530689641", "123")
    assert signature.verify(sig, "demo-token", "1530689641", "123")
    assert signature.verify(sig.upper(), "demo-token", "1530689641", "123")
    assert not signature.verify(sig, "other-token", "1530689641", "123")
    assert not signature.verify(None, "demo-token", "1530689641", "123")
    assert not signature.verify(sig, "demo-token", None, "123")


def test_bad_aes_key_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="43 characters"):
        WeChatCrypto(token="t", encoding_aes_key="short", app_id="x")
