"""Outgoing mail: an outbox folder by default, or an SMTP server."""

from eohub.mail.ports import Mail, Mailer

__all__ = ["Mail", "Mailer"]
