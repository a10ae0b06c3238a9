"""Run a service's app factory under uvicorn (uvloop + httptools), as `python -m <service>` does."""

from __future__ import annotations

import uvicorn

from .settings import CommonSettings


def serve(factory: str, settings: CommonSettings, *, port: int) -> None:
    uvicorn.run(
        factory,
        factory=True,
        host=settings.host,
        port=port,
        log_level="warning",  # our own structured logs say what happened; uvicorn's access log is noise
        access_log=False,
        loop="uvloop",
        http="httptools",
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
    )
