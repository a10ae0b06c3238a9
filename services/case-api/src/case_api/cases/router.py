"""Cases over HTTP: lists, one case, its audit trail, and every lifecycle action as POST /cases/{id}/<action>."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from case_api.audit import service as audit_service
from case_api.audit.models import AuditEntry
from case_api.auth.deps import CurrentUser
from case_api.auth.models import User
from case_api.deps import SessionDep
from shared.contracts.v1 import Channel, utcnow

from . import access, service
from .actions import CaseActions, CaseNotFound, Conflict, Invalid, available, load_for_update
from .lifecycle import IllegalMove, NotPermitted, ReasonRequired
from .models import Case, CaseStatus
from .schemas import (
    AuditOut,
    CaseDetail,
    CasePage,
    CaseSummary,
    ClassifyIn,
    CoHandlerIn,
    CompletePartIn,
    ContactOut,
    DepartmentPart,
    DispatchIn,
    Empty,
    IllegalMoveOut,
    InterimReplyIn,
    MessageOut,
    OptionalReasonIn,
    ReasonIn,
    ReplyIn,
    ReplyOut,
    ReturnIn,
    TransferIn,
    TransferOut,
)

router = APIRouter(prefix="/api/v1/cases", tags=["cases"])


@router.get("", response_model=CasePage, summary="List cases, newest first")
async def list_cases(
    session: SessionDep,
    user: CurrentUser,
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
            user=user,
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


async def case_detail(session: SessionDep, case_id: uuid.UUID, user: User, check_access: bool = True) -> CaseDetail:
    view = await service.get_case(session, case_id=case_id, user=user, check_access=check_access)
    if view is None:
        raise HTTPException(404, f"no case {case_id}")
    return CaseDetail(
        **CaseSummary.model_validate(view.case).model_dump(),
        contact=ContactOut.model_validate(view.contact),
        messages=[MessageOut.model_validate(m) for m in view.messages],
        departments=[DepartmentPart.model_validate(p) for p in view.parts],
        replies=[ReplyOut.model_validate(r) for r in view.replies],
        transfers=[TransferOut.model_validate(t) for t in view.transfers],
        allowed_actions=available(user, view.case, view.parts),
    )


@router.get("/{case_id}", response_model=CaseDetail, summary="One case with its contact, messages and replies")
async def get_case(request: Request, case_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> CaseDetail:
    detail = await case_detail(session, case_id, user)
    await audit_service.record_reads_apart(request.app.state.sessions, user, [(case_id, detail.status)])
    return detail


@router.get("/{case_id}/audit", response_model=list[AuditOut], summary="Who did what, when, before and after")
async def audit(request: Request, case_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> list[AuditEntry]:
    view = await service.get_case(session, case_id=case_id, user=user)
    if view is None:
        raise HTTPException(404, f"no case {case_id}")
    rows = await session.scalars(select(AuditEntry).where(AuditEntry.case_id == case_id).order_by(AuditEntry.at))
    trail = list(rows.all())
    # The snapshots carry the citizen's case as it was at every step: a read like the case itself.
    await audit_service.record_reads_apart(request.app.state.sessions, user, [(case_id, view.case.status)])
    return trail


ActionFn = Callable[[CaseActions, Case], Awaitable[object]]

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such case, or not visible to the caller"},
    409: {"model": IllegalMoveOut, "description": "not allowed in the case's current state"},
}


async def run_action(request: Request, session: SessionDep, user: User, case_id: uuid.UUID, fn: ActionFn) -> CaseDetail:
    now = utcnow()
    try:
        case = await load_for_update(session, case_id, user)
        await fn(
            CaseActions(
                session, user=user, now=now, policy=request.app.state.deadline_policy, notices=request.app.state.notices
            ),
            case,
        )
        # The answer is the whole case, contact and messages included: a supervisor's read as GET /cases/{id} is.
        await audit_service.record_reads(session, user, [(case.id, case.status)])
        await session.commit()
    except CaseNotFound as exc:
        raise HTTPException(404, f"no case {case_id}") from exc
    except IllegalMove as exc:
        await session.rollback()
        # What this caller could do instead, as the case's own `allowed_actions` says (their part counts too).
        await session.refresh(user)  # the rollback expired it
        current = await session.get(Case, case_id)
        allowed = available(user, current, await access.parts_of(session, case_id)) if current else exc.allowed
        body = IllegalMoveOut(detail=str(exc), current_status=exc.current, allowed_actions=allowed)
        return JSONResponse(body.model_dump(), status_code=409)  # type: ignore[return-value]
    except NotPermitted as exc:
        await session.rollback()
        raise HTTPException(403, str(exc)) from exc
    except Conflict as exc:
        await session.rollback()
        raise HTTPException(409, str(exc)) from exc
    except (Invalid, ReasonRequired) as exc:
        await session.rollback()
        raise HTTPException(422, str(exc)) from exc
    request.app.state.outbox_publisher.wakeup.set()
    # The actor sees the result of their own action even when it took the case out of their sight (a transfer).
    return await case_detail(session, case_id, user, check_access=False)


def _action(path: str, summary: str) -> Callable[..., object]:
    return router.post(f"/{{case_id}}/{path}", response_model=CaseDetail, responses=_ERRORS, summary=summary)


@_action("accept", "Accept a new case")
async def accept(
    case_id: uuid.UUID, body: Empty, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.accept(c))


@_action("classify", "Set (or correct) the category")
async def classify(
    case_id: uuid.UUID, body: ClassifyIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    known: frozenset[str] = request.app.state.request_types
    if body.request_type is not None and body.request_type not in known:
        raise HTTPException(422, f"unknown request type {body.request_type!r}; one of: {', '.join(sorted(known))}")
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.classify(c, category_id=body.category_id, request_type=body.request_type),
    )


@_action("dispatch", "Send to the owning department (default: the category's), optionally with co-handlers")
async def dispatch(
    case_id: uuid.UUID, body: DispatchIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    helpers = [(h.department_id, h.part) for h in body.co_handlers]
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.dispatch(c, department_id=body.department_id, co_handlers=helpers),
    )


@_action("confirm", "Accept the router's proposal: accept, classify and dispatch in one step")
async def confirm(
    case_id: uuid.UUID, body: Empty, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.confirm(c))


@_action("reply", "Answer the citizen through their channel")
async def reply(
    case_id: uuid.UUID, body: ReplyIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.reply(c, text=body.text))


@_action("interim-reply", "Answer first with a promised deadline the case is then held to")
async def interim_reply(
    case_id: uuid.UUID, body: InterimReplyIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(
        request, session, user, case_id, lambda a, c: a.interim_reply(c, text=body.text, promised_at=body.promised_at)
    )


@_action("wait-on-citizen", "Ask the citizen for missing details; the resolution clock stops until they answer")
async def wait_on_citizen(
    case_id: uuid.UUID, body: ReplyIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.wait_on_citizen(c, text=body.text))


@_action("resume", "Stop waiting on the citizen without their message (they phoned, or it is pointless), with why")
async def resume(
    case_id: uuid.UUID, body: ReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.resume(c, reason=body.reason))


@_action("transfer", "Pass to another department, with the reason")
async def transfer(
    case_id: uuid.UUID, body: TransferIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.transfer(c, department_id=body.department_id, reason=body.reason),
    )


@_action("return", "Send a case that is not the department's back to the operators, with why and who may own it")
async def send_back(
    case_id: uuid.UUID, body: ReturnIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.send_back(c, reason=body.reason, suggested_department_id=body.department_id),
    )


@_action("escalate", "Flag for supervisors")
async def escalate(
    case_id: uuid.UUID, body: ReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.escalate(c, reason=body.reason))


@_action("close", "Close an answered case")
async def close(
    case_id: uuid.UUID, body: OptionalReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.close(c, reason=body.reason))


@_action("reopen", "Reopen a closed case (e.g. the citizen is not satisfied)")
async def reopen(
    case_id: uuid.UUID, body: ReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.reopen(c, reason=body.reason))


@_action("discard", "Close without an answer: spam, duplicate, not a request")
async def discard(
    case_id: uuid.UUID, body: ReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.discard(c, reason=body.reason))


@_action("co-handlers", "Add a co-handling department with its part")
async def add_co_handler(
    case_id: uuid.UUID, body: CoHandlerIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.add_co_handler(c, department_id=body.department_id, part=body.part),
    )


@_action("co-handlers/{department_id}/complete", "A co-handling department reports its part done")
async def complete_part(
    case_id: uuid.UUID,
    department_id: str,
    body: CompletePartIn,
    request: Request,
    session: SessionDep,
    user: CurrentUser,
) -> CaseDetail:
    return await run_action(
        request, session, user, case_id, lambda a, c: a.complete_part(c, department_id=department_id, note=body.note)
    )


@_action("co-handlers/{department_id}/remove", "The lead withdraws an open part it no longer needs, with the reason")
async def remove_co_handler(
    case_id: uuid.UUID, department_id: str, body: ReasonIn, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(
        request,
        session,
        user,
        case_id,
        lambda a, c: a.remove_co_handler(c, department_id=department_id, reason=body.reason),
    )


@_action("claim", "Claim the case for a short lease so no one else works it")
async def claim(
    case_id: uuid.UUID, body: Empty, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    lease = timedelta(seconds=request.app.state.settings.claim_lease_seconds)
    return await run_action(request, session, user, case_id, lambda a, c: a.claim(c, lease=lease))


@_action("release", "Give up a claim")
async def release(
    case_id: uuid.UUID, body: Empty, request: Request, session: SessionDep, user: CurrentUser
) -> CaseDetail:
    return await run_action(request, session, user, case_id, lambda a, c: a.release(c))
