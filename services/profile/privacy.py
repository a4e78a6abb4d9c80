"""Export and deletion of everything oO holds about a person, across every module.

Deletion is one path for the user's button, the admin command and (later) Apple's account-delete:
1. in the caller's transaction the user is marked as being deleted, every token revoked, and a
   job and a receipt written: from this commit on, the user's credentials answer 401;
2. each module erases the user's rows in short transactions of its own, a bounded share each (so a
   person with 250,000 events never holds the write lock for long), and the job records the last;
3. the person's messages are purged from JetStream (when oO mirrors its events there);
4. the identity rows, the job and the receipt's completion go in one last transaction.
Every step is idempotent, so a crash anywhere is mended by running the job again (at start-up and
periodically), which ends in the same state.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import structlog

from oo_contracts.export import EXPORT_FORMAT, AccountExport
from services.kernel.database import Database
from services.kernel.ports import IdentityPort, MessageStore, UserDataOwner
from services.kernel.unit_of_work import UnitOfWork
from services.profile.repository import DeletionRepository

log = structlog.get_logger(__name__)


class PrivacyService:
    tables = ("profile_deletion_jobs",)

    def __init__(
        self,
        database: Database,
        identity: IdentityPort,
        owners: Sequence[UserDataOwner],
        identity_owner: UserDataOwner,
        receipt_key: bytes,
        repository: DeletionRepository,
        message_stores: Sequence[MessageStore] = (),
    ) -> None:
        self._database = database
        self._identity = identity
        self._owners = list(owners)
        self._identity_owner = identity_owner
        self._receipt_key = receipt_key
        self._repository = repository
        self._message_stores = list(message_stores)

    @property
    def covered_tables(self) -> set[str]:
        tables = {table for owner in (*self._owners, self._identity_owner) for table in owner.tables}
        return tables | set(self.tables)

    async def export(self, uow: UnitOfWork, user_id: str) -> AccountExport:
        sections: dict[str, Any] = {}
        for owner in (self._identity_owner, *self._owners):
            sections[owner.section] = await owner.export_user(uow, user_id)
        return AccountExport(format=EXPORT_FORMAT, exported_at=datetime.now(UTC), user_id=user_id, **sections)

    async def request_deletion(self, uow: UnitOfWork, user_id: str) -> UUID | None:
        """Step 1 in the caller's transaction; the rest runs once it commits. None if no such user."""
        receipt_id = await self._job(uow, user_id)
        if receipt_id is not None:
            uow.after_commit(lambda: self._run_logged(user_id))
        return receipt_id

    async def _job(self, uow: UnitOfWork, user_id: str) -> UUID | None:
        """The user's deletion job, begun now if there is none yet; None if no such user."""
        job = await self._repository.job(uow, user_id)
        if job is not None:
            receipt_id: UUID = job.receipt_id
            return receipt_id
        if not await self._identity.begin_deletion(uow, user_id):
            return None
        receipt_id = uuid.uuid4()
        subject = hmac.new(self._receipt_key, user_id.encode(), hashlib.sha256).hexdigest()
        await self._repository.add_job(uow, user_id, receipt_id, subject, datetime.now(UTC))
        return receipt_id

    async def run_deletion(self, user_id: str) -> None:
        """Steps 2 and 3; raises if a module fails (the job stays and is resumed later)."""
        async with self._database.transaction() as uow:
            job = await self._repository.job(uow, user_id)
            if job is None:
                return
            await self._repository.record_attempt(uow, user_id)
        done: list[str] = list(job.completed_sections)
        for owner in self._owners:
            if owner.section not in done:
                await self._erase(owner, user_id, done, job.receipt_id)
        # After the events are erased, so no new message of the user can be relayed; before identity, so
        # a store that cannot be reached leaves the job to resume.
        for store in self._message_stores:
            if store.section not in done:
                await store.purge_user(user_id)
                done.append(store.section)
                async with self._database.transaction() as uow:
                    await self._repository.mark_section_erased(uow, user_id, done)
        if self._identity_owner.section not in done:  # identity last: until then, the job can resume
            await self._erase(self._identity_owner, user_id, done, job.receipt_id)
        log.info("account_deleted", receipt_id=str(job.receipt_id))

    async def _erase(self, owner: UserDataOwner, user_id: str, done: list[str], receipt_id: UUID) -> None:
        """Erase `owner`'s rows of the user in as many short transactions as it takes (other writers go
        between two of them); the one that erases the last row records the section as erased, or, for
        identity, the deletion as complete."""
        while True:
            started = time.monotonic()
            async with self._database.transaction() as uow:
                if await owner.erase_user(uow, user_id):
                    done.append(owner.section)
                    if owner is self._identity_owner:
                        await self._repository.complete(uow, user_id, receipt_id, done, datetime.now(UTC))
                    else:
                        await self._repository.mark_section_erased(uow, user_id, done)
                    return
            # Background work gives way: it rests as long as its share took, so people's requests get at
            # least half of the process, and never queue behind shares run back to back.
            await asyncio.sleep(time.monotonic() - started)
            # Each share writes ~100 pages of SQLite's log (a row's index entries are scattered); left to
            # the periodic checkpoints, the log reached its safety net and was copied inside a request's
            # commit, stopping everyone for ~45 ms. Copied after each share, off the loop, it never grows.
            await self._database.checkpoint()

    async def resume_pending(self) -> int:
        """Finish every deletion a crash left half-way, here and now; returns how many were finished."""
        finished = 0
        for user_id in await self.pending_deletions():
            if await self.resume(user_id):
                finished += 1
        return finished

    async def pending_deletions(self) -> list[str]:
        """Everyone whose deletion is unfinished: the periodic fan-out defers a `deletion_resume` job each.
        A user marked as being deleted without a job (a migration retired them) is given one here."""
        async with self._database.transaction(write=False) as uow:
            pending = await self._repository.pending_user_ids(uow)
            with_job = set(pending)
            stranded = [u for u in await self._identity.users_being_deleted(uow) if u not in with_job]
        for user_id in stranded:
            async with self._database.transaction() as uow:
                if await self._job(uow, user_id) is not None:
                    pending.append(user_id)
        return list(pending)

    async def resume(self, user_id: str) -> bool:
        """Run the person's unfinished deletion to its end (the `deletion_resume` job); False if it stopped
        again (it stays pending)."""
        return await self._run_logged(user_id)

    async def receipt_status(self, uow: UnitOfWork, receipt_id: UUID) -> tuple[datetime, datetime | None] | None:
        row = await self._repository.receipt(uow, receipt_id)
        return None if row is None else (row.requested_at, row.completed_at)

    async def _run_logged(self, user_id: str) -> bool:
        try:
            await self.run_deletion(user_id)
        except Exception:
            log.exception("account_deletion_interrupted")
            return False
        return True
