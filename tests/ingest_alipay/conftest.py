"""Keys that play Alipay and our app, and an accounts file that uses them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey


@pytest.fixture(scope="session")
def alipay_key() -> RSAPrivateKey:
    """Alipay's key pair: its private half signs notifies and API responses."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def app_key() -> RSAPrivateKey:
    """Our app's key pair: its private half signs answers and API requests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def alipay_accounts_file(tmp_path: Path, alipay_key: RSAPrivateKey, app_key: RSAPrivateKey) -> Path:
    """One Alipay account, `city`, with the app id of alipay.md's captured message (2016010601068750), our app's
    private key and Alipay's public key written beside it."""
    (tmp_path / "app.pem").write_bytes(
        app_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    (tmp_path / "alipay.pem").write_bytes(
        alipay_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    path = tmp_path / "accounts.yaml"
    path.write_text(
        "accounts:\n  - {id: city, channel: alipay, name: 生活号, app_id: '2016010601068750',"
        f" app_private_key_file: {tmp_path / 'app.pem'}, alipay_public_key_file: {tmp_path / 'alipay.pem'}}}\n",
        encoding="utf-8",
    )
    return path
