"""Contacts: one per platform identity; operators link identities of the same citizen across channels."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import or_, select, update

from case_api.audit import service as audit_service
from case_api.audit.models import AuditEntry
from case_api.auth.deps import CurrentUser, StaffUser
from case_api.cases import access
from case_api.cases.models import Case
from case_api.cases.schemas import CaseSummary, ContactOut
from case_api.deps import SessionDep
from shared.contracts.v1 import utcnow

from .models import Contact

router = APIRouter(prefix="/api/v1/contacts", tags=["contacts"])


class ContactDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    contact: ContactOut
    linked: list[ContactOut]  # the same citizen on other channels or accounts
    cases: list[CaseSummary]  # history across every linked identity, newest first


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    other_contact_id: uuid.UUID


async def _detail(session: SessionDep, contact: Contact, user: CurrentUser) -> ContactDetail:
    person = contact.person_id or contact.id
    linked = list((await session.scalars(select(Contact).where(Contact.person_id == person))).all())
    ids = [c.id for c in linked] or [contact.id]
    cases = await session.scalars(
        access.scope(select(Case).where(Case.contact_id.in_(ids)), user).order_by(Case.created_at.desc()).limit(200)
    )
    return ContactDetail(
        contact=ContactOut.model_validate(contact),
        linked=[ContactOut.model_validate(c) for c in linked if c.id != contact.id],
        cases=[CaseSummary.model_validate(c) for c in cases.all()],
    )


def _shown(detail: ContactDetail) -> list[tuple[uuid.UUID, str]]:
    """The citizen's platform identities next to each of their cases: a supervisor's read of every case shown."""
    return [(c.id, c.status) for c in detail.cases]


@router.get("/{contact_id}", response_model=ContactDetail, summary="A contact, linked identities, case history")
async def get_contact(request: Request, contact_id: uuid.UUID, session: SessionDep, user: StaffUser) -> ContactDetail:
    contact = await session.get(Contact, contact_id)
    if contact is None:
        raise HTTPException(404, f"no contact {contact_id}")
    detail = await _detail(session, contact, user)
    await audit_service.record_reads_apart(request.app.state.sessions, user, _shown(detail))
    return detail


@router.post("/{contact_id}/link", response_model=ContactDetail, summary="Mark two contacts as the same citizen")
async def link(
    request: Request, contact_id: uuid.UUID, body: LinkIn, session: SessionDep, user: StaffUser
) -> ContactDetail:
    if body.other_contact_id == contact_id:
        raise HTTPException(422, "a contact cannot be linked to itself")
    contact = await session.get(Contact, contact_id)
    other = await session.get(Contact, body.other_contact_id)
    if contact is None or other is None:
        raise HTTPException(404, "no such contact")
    person = contact.person_id or contact.id
    other_person = other.person_id or other.id
    if person == other_person:  # linked already: nothing changes, and nothing is recorded as changed
        detail = await _detail(session, contact, user)
        await audit_service.record_reads(session, user, _shown(detail))
        await session.commit()
        return detail
    # Every identity of both groups: each of their cases now shows the other group's history.
    members = select(Contact.id).where(
        or_(Contact.person_id.in_([person, other_person]), Contact.id.in_([contact.id, other.id]))
    )
    merged = list((await session.scalars(members)).all())
    # Merge the two groups: everyone linked to `other` joins `contact`'s person.
    await session.execute(update(Contact).where(Contact.person_id == other_person).values(person_id=person))
    other.person_id = person
    contact.person_id = person
    for case in (await session.scalars(select(Case).where(Case.contact_id.in_(merged)))).all():
        session.add(
            AuditEntry(
                case_id=case.id,
                actor=user.username,
                action="link-contacts",
                at=utcnow(),
                from_status=case.status,
                to_status=case.status,
                reason=f"linked contacts {contact.id} and {other.id}",
                before=None,
                after=None,
            )
        )
    detail = await _detail(session, contact, user)
    await audit_service.record_reads(session, user, _shown(detail))
    await session.commit()
    return detail
