"""Plays the platforms: builds correctly signed (and encrypted) pushes in each platform's real format."""

import random


def random_nonce() -> str:
    """Wider than the platforms' nine or ten digits: a load test signs thousands of pushes a second, and two signed
    in one second with one nonce would be one signed query with two bodies, which ingest refuses as a replay."""
    return str(random.randrange(10**8, 10**18))
