"""All SQL of the profile module."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import BindParameter

from services.kernel.ports import ERASE_CHUNK_ROWS
from services.kernel.unit_of_work import UnitOfWork
from services.profile.tables import profile_consents, profile_deletion_jobs, profile_deletion_receipts

_CONSENTS = profile_consents.c
_USER: BindParameter[str] = bindparam("user_id")
_LATEST_ANSWER = (
    select(_CONSENTS.granted)
    .where(_CONSENTS.user_id == _USER, _CONSENTS.purpose == bindparam("purpose"))
    .order_by(_CONSENTS.seq.desc())
    .limit(1)
)
_LATEST_ANSWERS = select(profile_consents).where(
    _CONSENTS.user_id == _USER,
    _CONSENTS.seq.in_(select(func.max(_CONSENTS.seq)).where(_CONSENTS.user_id == _USER).group_by(_CONSENTS.purpose)),
)
_HISTORY = select(profile_consents).where(_CONSENTS.user_id == _USER).order_by(_CONSENTS.seq)
_ERASE_CONSENTS = delete(profile_consents).where(
    _CONSENTS.seq.in_(select(_CONSENTS.seq).where(_CONSENTS.user_id == _USER).limit(bindparam("chunk")))
)


class DeletionRepository:
    async def job(self, uow: UnitOfWork, user_id: str) -> Row[Any] | None:
        query = select(profile_deletion_jobs).where(profile_deletion_jobs.c.user_id == user_id)
        return (await uow.connection.execute(query)).first()

    async def pending_user_ids(self, uow: UnitOfWork) -> list[str]:
        query = select(profile_deletion_jobs.c.user_id).order_by(profile_deletion_jobs.c.requested_at)
        return list((await uow.connection.execute(query)).scalars())

    async def add_job(self, uow: UnitOfWork, user_id: str, receipt_id: UUID, subject_hmac: str, at: datetime) -> None:
        await uow.connection.execute(
            profile_deletion_jobs.insert().values(
                user_id=user_id, receipt_id=receipt_id, requested_at=at, completed_sections=[], attempts=0
            )
        )
        await uow.connection.execute(
            profile_deletion_receipts.insert().values(
                receipt_id=receipt_id, subject_hmac=subject_hmac, requested_at=at, completed_at=None, erased=[]
            )
        )

    async def record_attempt(self, uow: UnitOfWork, user_id: str) -> None:
        await uow.connection.execute(
            update(profile_deletion_jobs)
            .where(profile_deletion_jobs.c.user_id == user_id)
            .values(attempts=profile_deletion_jobs.c.attempts + 1)
        )

    async def mark_section_erased(self, uow: UnitOfWork, user_id: str, sections: list[str]) -> None:
        await uow.connection.execute(
            update(profile_deletion_jobs)
            .where(profile_deletion_jobs.c.user_id == user_id)
            .values(completed_sections=sections)
        )

    async def complete(self, uow: UnitOfWork, user_id: str, receipt_id: UUID, erased: list[str], at: datetime) -> None:
        await uow.connection.execute(delete(profile_deletion_jobs).where(profile_deletion_jobs.c.user_id == user_id))
        await uow.connection.execute(
            update(profile_deletion_receipts)
            .where(profile_deletion_receipts.c.receipt_id == receipt_id)
            .values(completed_at=at, erased=erased)
        )

    async def receipt(self, uow: UnitOfWork, receipt_id: UUID) -> Row[Any] | None:
        query = select(profile_deletion_receipts).where(profile_deletion_receipts.c.receipt_id == receipt_id)
        return (await uow.connection.execute(query)).first()


class ConsentRepository:
    async def append(self, uow: UnitOfWork, answers: list[dict[str, Any]]) -> None:
        await uow.connection.execute(profile_consents.insert(), answers)

    async def latest_answer(self, uow: UnitOfWork, user_id: str, purpose: str) -> bool | None:
        """The person's latest answer for `purpose`; None if they never gave one."""
        result = await uow.connection.execute(_LATEST_ANSWER, {"user_id": user_id, "purpose": purpose})
        granted: bool | None = result.scalar_one_or_none()
        return granted

    async def latest_answers(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        """The latest answer of each purpose the person answered."""
        return list((await uow.connection.execute(_LATEST_ANSWERS, {"user_id": user_id})).all())

    async def history(self, uow: UnitOfWork, user_id: str) -> list[Row[Any]]:
        return list((await uow.connection.execute(_HISTORY, {"user_id": user_id})).all())

    async def erase_user(self, uow: UnitOfWork, user_id: str) -> bool:
        """At most `ERASE_CHUNK_ROWS` of the person's answers; True once none is left."""
        result = await uow.connection.execute(_ERASE_CONSENTS, {"user_id": user_id, "chunk": ERASE_CHUNK_ROWS})
        return bool(getattr(result, "rowcount", 0) < ERASE_CHUNK_ROWS)
