"""Keys that play Alipay and our app."""

from __future__ import annotations

import pytest
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
