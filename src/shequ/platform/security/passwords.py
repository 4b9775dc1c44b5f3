"""Password hashing (argon2id) and the password policy (GB/T 22239-2019 level 3, ASVS)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from shequ.kit.errors import ValidationFailed

# Argon2 is deliberately slow; cap how many run at once so other requests keep a core.
_gate = threading.BoundedSemaphore(max(1, (os.cpu_count() or 2) - 1))


@dataclass(frozen=True)
class PasswordPolicy:
    """Minimum length and character classes; the defaults meet GB/T 22239 level 3."""

    min_length: int = 12
    min_classes: int = 3
    max_length: int = 128

    def problems(self, password: str, username: str = "") -> list[str]:
        """Message keys of every rule the password breaks."""
        found: list[str] = []
        if len(password) < self.min_length:
            found.append("password.too_short")
        if len(password) > self.max_length:
            found.append("password.too_long")
        if _classes(password) < self.min_classes:
            found.append("password.too_simple")
        if username and len(username) >= 3 and username.lower() in password.lower():
            found.append("password.contains_username")
        return found

    def check(self, password: str, username: str = "") -> None:
        """Raise a 422 naming the broken rules."""
        problems = self.problems(password, username)
        if problems:
            raise ValidationFailed(
                code="password.weak",
                errors=[{"field": "password", "code": code} for code in problems],
                min_length=self.min_length,
                min_classes=self.min_classes,
            )


def _classes(password: str) -> int:
    kinds = (str.islower, str.isupper, str.isdigit)
    count = sum(any(kind(ch) for ch in password) for kind in kinds)
    count += any(not ch.isalnum() for ch in password)
    return count


class Passwords:
    """Argon2id hashing with a concurrency gate."""

    def __init__(self, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy = self._hasher.hash("dummy password for timing")

    def hash(self, password: str) -> str:
        """Hash a password."""
        with _gate:
            return self._hasher.hash(password)

    def verify(self, stored: str | None, password: str) -> bool:
        """Check a password; an unknown user costs the same time as a wrong password."""
        with _gate:
            try:
                return self._hasher.verify(stored or self._dummy, password) and stored is not None
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether a stored hash uses outdated parameters."""
        return self._hasher.check_needs_rehash(stored)
