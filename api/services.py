"""The long-lived objects the handlers share, built once per app from the settings."""

from __future__ import annotations

from dataclasses import dataclass

from api.config import Settings
from api.db import Database
from api.mail import Mailer
from api.security import KeyHasher, LinkSigner


@dataclass
class Services:
    settings: Settings
    db: Database
    hasher: KeyHasher
    links: LinkSigner
    mailer: Mailer

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
        )
