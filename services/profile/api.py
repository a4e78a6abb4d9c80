"""The profile module's facade: the privacy flows (export, deletion) and consents."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from oo_contracts.consents import ConsentPurpose
from services.kernel.database import Database
from services.kernel.ports import EventPublisher, IdentityPort, IntegrationData, MessageStore, UserDataOwner
from services.profile.consents import ConsentProjection, ConsentRecords, ConsentService
from services.profile.privacy import PrivacyService
from services.profile.repository import ConsentRepository, DeletionRepository
from services.profile.routes import build_router

__all__ = ["ConsentRecords", "PrivacyService", "ProfileModule", "consent_records"]


def consent_records(granted_by_default: frozenset[ConsentPurpose]) -> ConsentRecords:
    """The consents as kept: a `ConsentCheck` for the modules that must ask before they process (built
    before them, and handed to `ProfileModule`), and the data owner of the history."""
    return ConsentRecords(ConsentRepository(), granted_by_default)


class ProfileModule:
    def __init__(
        self,
        database: Database,
        identity: IdentityPort,
        owners: Sequence[UserDataOwner],
        identity_owner: UserDataOwner,
        receipt_key: bytes,
        *,
        consents: ConsentRecords,
        publisher: EventPublisher,
        integrations: IntegrationData,
        message_stores: Sequence[MessageStore] = (),
    ) -> None:
        self.consent_records = consents
        self.privacy = PrivacyService(
            database,
            identity,
            [*owners, consents],
            identity_owner,
            receipt_key,
            DeletionRepository(),
            message_stores,
        )
        # Registered on the bus by the composition root: answers become records where they are stored.
        self.consent_projection = ConsentProjection(ConsentRepository(), integrations)
        self.consents = ConsentService(consents, publisher)

    def router(self) -> APIRouter:
        return build_router(self.privacy, self.consent_records, self.consents)
