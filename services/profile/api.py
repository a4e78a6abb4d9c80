"""The profile module's facade. Today: the privacy flows (export, deletion); preferences come next."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from services.kernel.database import Database
from services.kernel.ports import IdentityPort, UserDataOwner
from services.profile.privacy import PrivacyService
from services.profile.repository import DeletionRepository
from services.profile.routes import build_router

__all__ = ["PrivacyService", "ProfileModule"]


class ProfileModule:
    def __init__(
        self,
        database: Database,
        identity: IdentityPort,
        owners: Sequence[UserDataOwner],
        identity_owner: UserDataOwner,
        receipt_key: bytes,
    ) -> None:
        self.privacy = PrivacyService(database, identity, owners, identity_owner, receipt_key, DeletionRepository())

    def router(self) -> APIRouter:
        return build_router(self.privacy)
