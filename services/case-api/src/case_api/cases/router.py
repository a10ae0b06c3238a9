from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query

from case_api.cases import service
from case_api.cases.models import CaseStatus
from case_api.cases.schemas import CaseDetail, CasePage, CaseSummary, ContactOut, MessageOut
from case_api.deps import SessionDep
from shared.contracts.v1 import Channel

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


@router.get("", response_model=CasePage, summary="List cases, newest first")
async def list_cases(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: str | None = None,
    status: CaseStatus | None = None,
    channel: Channel | None = None,
    account_id: str | None = None,
    department_id: str | None = None,
) -> CasePage:
    try:
        rows, total, next_cursor = await service.list_cases(
            session,
            limit=limit,
            cursor=cursor,
            status=status,
            channel=channel,
            account_id=account_id,
            department_id=department_id,
        )
    except service.InvalidCursor as exc:
        raise HTTPException(400, str(exc)) from exc
    return CasePage(items=[CaseSummary.model_validate(r) for r in rows], total=total, next_cursor=next_cursor)


@router.get("/{case_id}", response_model=CaseDetail, summary="One case with its contact and messages")
async def get_case(case_id: uuid.UUID, session: SessionDep) -> CaseDetail:
    found = await service.get_case(session, case_id=case_id)
    if found is None:
        raise HTTPException(404, f"no case {case_id}")
    case, contact, messages = found
    summary = CaseSummary.model_validate(case)
    return CaseDetail(
        **summary.model_dump(),
        contact=ContactOut.model_validate(contact),
        messages=[MessageOut.model_validate(m) for m in messages],
    )
