"""Mails written as ``.eml`` files to a folder (the embedded default: no mail server needed)."""

from __future__ import annotations

import logging
import os
import time
import uuid
from pathlib import Path

from eohub.mail.errors import MailError
from eohub.mail.ports import Mail

log = logging.getLogger("eohub.mail")


class OutboxMailer:
    """Writes each mail atomically to ``folder`` and logs where it is."""

    def __init__(self, folder: Path, sender: str) -> None:
        self.folder = folder
        self.sender = sender

    def send(self, mail: Mail) -> None:
        """Write one mail."""
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:12]}.eml"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{name}.part"
            partial.write_bytes(bytes(mail.message(self.sender)))
            os.replace(partial, self.folder / name)
        except OSError as exc:
            raise MailError("The mail could not be written", detail=str(exc)) from exc
        log.info("mail to %s (%s) written to %s", mail.to, mail.subject, self.folder / name)
