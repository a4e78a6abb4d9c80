"""`POST /v1/auth/apple/notifications`: Sign in with Apple's server-to-server notifications."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from services.auth.apple_notifications import AppleNotifications, KeysUnavailable
from services.auth.service import IdentityService
from services.auth.settings import APPLE_ISSUER
from services.kernel.errors import NotFound, Unauthenticated, Unavailable
from services.kernel.http import CurrentUnitOfWork, error_responses
from services.kernel.ports import AccountDeletion


class AppleNotification(BaseModel):
    """What Apple posts: one signed JWS."""

    model_config = ConfigDict(extra="forbid")

    payload: str = Field(
        max_length=8192,
        pattern=r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$",
        description="A JWS in compact form, signed by Apple.",
    )


class NoticeTaken(BaseModel):
    outcome: str = Field(
        description="`deletion_started`, `login_unlinked`, or `nothing_to_do` (no oO account holds that Apple "
        "login, or the notice changes nothing oO keeps)."
    )


def build_apple_router(
    identity: IdentityService, notifications: AppleNotifications, deletion: AccountDeletion
) -> APIRouter:
    router = APIRouter()

    @router.post(
        "/v1/auth/apple/notifications",
        response_model=NoticeTaken,
        summary="Sign in with Apple's server-to-server notifications",
        responses=error_responses(400, 401, 404, 413, 422, 503),
    )
    async def apple_notification(notice: AppleNotification, uow: CurrentUnitOfWork) -> NoticeTaken:
        """`account-delete`: the person deleted their Apple account — oO deletes theirs, by the same path
        as `DELETE /v1/me`. `consent-revoked`: they stopped using Sign in with Apple with oO — that login
        is unlinked and every session and client ends. `email-*`: oO keeps no email. 401 for a payload
        Apple did not sign for this app (or too old); 404 where Sign in with Apple is not configured;
        503 while Apple's keys cannot be read (Apple sends it again)."""
        if not notifications.configured:
            raise NotFound("Sign in with Apple is not configured here", code="unknown_provider")
        try:
            verified = await notifications.verify(notice.payload)
        except KeysUnavailable:
            raise Unavailable("Apple's keys cannot be read right now", code="provider_unavailable") from None
        if verified is None:
            raise Unauthenticated("the notification is not one Apple signed for this app", code="invalid_notification")
        if verified.type == "account-delete":
            user_id = await identity.owner_of(uow, APPLE_ISSUER, verified.subject)
            if user_id is not None and await deletion.request_deletion(uow, user_id) is not None:
                return NoticeTaken(outcome="deletion_started")
        elif (
            verified.type == "consent-revoked"
            and await identity.forget_identity(uow, APPLE_ISSUER, verified.subject) is not None
        ):
            return NoticeTaken(outcome="login_unlinked")
        return NoticeTaken(outcome="nothing_to_do")

    return router
