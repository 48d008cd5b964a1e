"""What the sign-up, profile and password forms accept, with one clear message per field.

Every check returns the problem in words (or None) so a form can show it next to the field;
:class:`FormRejected` carries those messages out of the services.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from eohub.auth.countries import COUNTRIES
from eohub.auth.ports import Profile
from eohub.auth.service import MAX_PASSWORD, MIN_PASSWORD
from eohub.errors import HubError
from eohub.model.user import USERNAME

MAX_EMAIL = 254
MAX_NAME = 100

USAGE_DOMAINS: Mapping[str, str] = {
    "research": "Research",
    "education": "Education",
    "commercial": "Commercial",
    "public_authority": "Public authority",
    "other": "Other",
}
"""What an account is used for: stored key -> label."""

COMMON_PASSWORDS = frozenset(
    """password password1 password12 password123 passw0rd p@ssw0rd p@ssword 12345678 123456789
    1234567890 0123456789 87654321 11111111 00000000 12121212 11223344 12344321 123123123
    qwertyui qwertyuiop qwerty12 qwerty123 qwerty1234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx zaq12wsx
    asdfghjk asdfasdf abcd1234 abc12345 abcdefgh iloveyou iloveyou1 sunshine sunshine1
    football baseball basketball princess superman batman123 trustno1 welcome1 welcome123
    letmein1 letmeinnow admin123 administrator changeme changeme1 whatever starwars
    computer internet michelle jennifer master12 dragon12 monkey12 shadow12 secret12
    liverpool chelsea1 pokemon1 samsung1 unknown1 test1234 testtest guest123 default1
    copernicus sentinel1 sentinel2 sentinel3 eohub123 opensearch""".split()
)
"""Very common passwords (from published leak statistics), compared case-insensitively."""

_EMAIL = re.compile(
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})$"
)


class FormRejected(HubError):
    """A form with fields that are not acceptable: ``errors`` maps field name to message.

    ``token`` is a fresh one-time token to continue with, when the rejected form consumed one.
    """

    code = "form_rejected"

    def __init__(self, errors: Mapping[str, str], *, token: str | None = None) -> None:
        super().__init__(next(iter(errors.values()), "Please correct the form"))
        self.errors = dict(errors)
        self.token = token


@dataclass(frozen=True)
class SignUpForm:
    """What a visitor enters to create an account."""

    username: str
    email: str
    password: str
    repeat: str
    firstname: str
    lastname: str
    country: str
    domain: str

    def cleaned(self) -> SignUpForm:
        """The form with surrounding spaces removed from every field but the passwords."""
        return SignUpForm(
            username=self.username.strip(),
            email=self.email.strip(),
            password=self.password,
            repeat=self.repeat,
            firstname=self.firstname.strip(),
            lastname=self.lastname.strip(),
            country=self.country.strip(),
            domain=self.domain.strip(),
        )

    def profile(self) -> Profile:
        """The profile part of the form."""
        return Profile(
            email=self.email,
            firstname=self.firstname,
            lastname=self.lastname,
            country=self.country,
            domain=self.domain,
        )


def username_problem(username: str) -> str | None:
    """Why ``username`` cannot be chosen at sign-up, or None."""
    if not username:
        return "Choose a username"
    if not USERNAME.match(username):
        return "Use 1 to 64 letters, digits, '.', '_' or '-' (no spaces)"
    if not any(c.isalnum() for c in username):
        return "A username needs at least one letter or digit"
    return None


def email_problem(email: str) -> str | None:
    """Why ``email`` is not a usable address, or None."""
    if not email:
        return "Enter your e-mail address"
    if len(email) > MAX_EMAIL:
        return f"An e-mail address has at most {MAX_EMAIL} characters"
    local = email.rpartition("@")[0]
    if not _EMAIL.match(email) or len(local) > 64:
        return "This is not a valid e-mail address (like name@example.org)"
    return None


def password_problem(password: str, username: str) -> str | None:
    """Why ``password`` is too weak for ``username``, or None."""
    if len(password) < MIN_PASSWORD:
        return f"A password needs at least {MIN_PASSWORD} characters"
    if len(password) > MAX_PASSWORD:
        return f"A password has at most {MAX_PASSWORD} characters"
    if username and password.casefold() == username.casefold():
        return "The password must not be your username"
    if password.casefold() in COMMON_PASSWORDS or len(set(password)) == 1:
        return "This password is too common: choose another one"
    return None


def new_password_problems(password: str, repeat: str, username: str) -> dict[str, str]:
    """Problems of a new password and its repetition (fields ``password`` and ``repeat``)."""
    errors = {}
    problem = password_problem(password, username)
    if problem:
        errors["password"] = problem
    elif password != repeat:
        errors["repeat"] = "The two passwords differ"
    return errors


def text_problem(value: str, *, required: bool = True, limit: int = MAX_NAME) -> str | None:
    """Why a free-text field (a name) is not acceptable, or None."""
    if not value:
        return "This field is required" if required else None
    if len(value) > limit:
        return f"At most {limit} characters"
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value):
        return "Remove the control characters"
    return None


def profile_problems(profile: Profile) -> dict[str, str]:
    """Problems of the profile fields (e-mail, names, country, usage domain)."""
    found = {
        "email": email_problem(profile.email or ""),
        "firstname": text_problem(profile.firstname or ""),
        "lastname": text_problem(profile.lastname or ""),
        "country": None if profile.country in COUNTRIES else "Choose a country from the list",
        "domain": None if profile.domain in USAGE_DOMAINS else "Choose a usage domain",
    }
    return {name: message for name, message in found.items() if message}


def sign_up_problems(form: SignUpForm) -> dict[str, str]:
    """Every problem of a (cleaned) sign-up form that needs no database."""
    errors = {}
    problem = username_problem(form.username)
    if problem:
        errors["username"] = problem
    errors.update(new_password_problems(form.password, form.repeat, form.username))
    errors.update(profile_problems(form.profile()))
    return errors
