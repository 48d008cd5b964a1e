"""Mails sent through an SMTP server (smtplib)."""

from __future__ import annotations

import smtplib

from eohub.mail.errors import MailError
from eohub.mail.ports import Mail


class SmtpMailer:
    """One connection per mail (mails are rare: sign-ups, resets, notifications)."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        *,
        username: str | None = None,
        password: str | None = None,
        starttls: bool = False,
        timeout_s: float = 20,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout_s = starttls, timeout_s

    def send(self, mail: Mail) -> None:
        """Send one mail."""
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username:
                    smtp.login(self.username, self.password or "")
                smtp.send_message(mail.message(self.sender))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(
                f"The mail to {mail.to} could not be sent", detail=f"{self.host}: {exc}"
            ) from exc
