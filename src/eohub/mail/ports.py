"""What the hub sends and the contract of a mailer."""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol


@dataclass(frozen=True)
class Mail:
    """A plain-text mail to one address."""

    to: str
    subject: str
    text: str

    def message(self, sender: str) -> EmailMessage:
        """The RFC 5322 message."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message.set_content(self.text)
        return message


class Mailer(Protocol):
    """Sends mails; raises ``eohub.mail.errors.MailError`` when it cannot."""

    def send(self, mail: Mail) -> None:
        """Send one mail."""
