"""RSA key pairs for the demo Alipay account, so `make run` works without a real Alipay app.

Alipay signs notifications with its platform key and we sign with the app key; locally both are generated here,
and the simulator plays Alipay with the platform private key.
"""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEMO_DIR = Path("var/demo-keys")


def _write_pair(directory: Path, name: str) -> None:
    private_path = directory / f"{name}-private.pem"
    if private_path.exists():
        return
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    private_path.chmod(0o600)
    (directory / f"{name}-public.pem").write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def ensure_demo_keys(directory: Path = DEMO_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    _write_pair(directory, "alipay-app")
    _write_pair(directory, "alipay-platform")
    return directory
