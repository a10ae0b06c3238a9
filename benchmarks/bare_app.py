"""The ceiling for a webhook: a FastAPI endpoint on the same uvicorn settings that only answers 200.

`python -m benchmarks.bare_app PORT`. Same path and method as ingest-wechat so the load generator is identical.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse

app = FastAPI()


@app.post("/webhooks/wechat/{account_id}", response_class=PlainTextResponse)
async def push(account_id: str) -> PlainTextResponse:
    return PlainTextResponse("success")


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


if __name__ == "__main__":
    # shared/serve.py's settings: uvloop, httptools, no access log.
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        log_level="warning",
        access_log=False,
        loop="uvloop",
        http="httptools",
    )
