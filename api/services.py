"""The long-lived objects the handlers share, built once per app from the settings."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

from api.billing.config import StripeSettings
from api.billing.stripe_gateway import BillingDisabledError, StripeGateway
from api.config import Settings
from api.db import Database
from api.mail import Mailer
from api.metrics.rules import MetricsState
from api.security import KeyHasher, LinkSigner


@dataclass
class Services:
    settings: Settings
    db: Database
    hasher: KeyHasher
    links: LinkSigner
    mailer: Mailer
    stripe: StripeSettings = field(default_factory=StripeSettings)
    # Prelogin shapes of the real accounts (store.kdf_profile) and when they were counted;
    # made-up prelogin answers follow them. Counted at start, recounted daily.
    kdf_profile: list[tuple[tuple[int, int, bool], int]] = field(default_factory=list)
    kdf_profile_at: int = 0
    # The usage metrics' salt of the day and burst buckets (this process only).
    metrics: MetricsState = field(default_factory=MetricsState)
    _gateway: StripeGateway | None = field(default=None, repr=False)

    @property
    def gateway(self) -> StripeGateway:
        """The Stripe client; raises BillingDisabledError (503) when billing is off."""
        if not self.stripe.billing_enabled:
            raise BillingDisabledError(self.stripe.missing)
        if self._gateway is None:
            self._gateway = StripeGateway(self.stripe)
        return self._gateway

    def close(self) -> None:
        self.db.close()
        if self._gateway is not None:
            with contextlib.suppress(Exception):
                self._gateway.close()
            self._gateway = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        return cls(
            settings=settings,
            db=Database(settings.DATABASE_URL),
            hasher=KeyHasher(
                settings.ARGON2_TIME_COST, settings.ARGON2_MEMORY_KIB, settings.ARGON2_PARALLELISM
            ),
            links=LinkSigner(settings.SECRET_KEY),
            mailer=Mailer(settings),
            stripe=settings.stripe,
        )
