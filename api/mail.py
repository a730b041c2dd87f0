"""Account mail: SMTP when SMTP_HOST is set, otherwise (dev mode) one `.eml` file per
message in MAIL_OUTBOX, also printed so the link can be clicked from the terminal."""

from __future__ import annotations

import os
import secrets
import smtplib
import ssl
import sys
import time
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

import anyio.to_thread

from api.config import Settings
from api.errors import ApiError


class Mailer:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def build(self, to: str, subject: str, text: str) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.settings.MAIL_FROM
        message["To"] = to
        message["Subject"] = subject
        message["Date"] = formatdate(localtime=False)
        # Not email.utils.make_msgid: it draws on the global `random`, whose state is
        # guessable and shared with the rest of the process.
        message["Message-ID"] = f"<{time.time_ns()}.{secrets.token_hex(12)}@sorastats.invalid>"
        message.set_content(text, cte="8bit")  # readable links in .eml files
        return message

    def send_now(self, message: EmailMessage) -> None:
        s = self.settings
        if s.SMTP_HOST:
            with smtplib.SMTP(s.SMTP_HOST, s.SMTP_PORT, timeout=15) as smtp:
                if s.SMTP_STARTTLS:
                    smtp.starttls(context=ssl.create_default_context())
                if s.SMTP_USERNAME:
                    smtp.login(s.SMTP_USERNAME, s.SMTP_PASSWORD)
                smtp.send_message(message)
            return
        outbox = Path(s.MAIL_OUTBOX)
        outbox.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{secrets.token_hex(4)}.eml"
        tmp = outbox / f".{name}.tmp"
        tmp.write_bytes(bytes(message))
        os.replace(tmp, outbox / name)  # readers never see a half-written message
        if s.DEV_MODE:
            text = message.get_content()
            header = f"--- mail to {message['To']}: {message['Subject']} ({outbox / name})"
            print(f"{header}\n{text}", file=sys.stderr, flush=True)

    def send_blocking(self, to: str, subject: str, text: str) -> str | None:
        """Send now, from a command (not the event loop): None, or why it failed."""
        try:
            self.send_now(self.build(to, subject, text))
        except (OSError, smtplib.SMTPException) as exc:
            return str(exc) or type(exc).__name__
        return None

    async def send(self, to: str, subject: str, text: str) -> None:
        message = self.build(to, subject, text)
        try:
            await anyio.to_thread.run_sync(self.send_now, message)
        except (OSError, smtplib.SMTPException):
            raise ApiError(
                503, "mail_unavailable", "Could not send mail; try again later."
            ) from None
