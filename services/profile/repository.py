"""All SQL of the profile module."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.engine import Row

from services.kernel.unit_of_work import UnitOfWork
from services.profile.tables import profile_deletion_jobs, profile_deletion_receipts


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
