"""Refusals the annotation services raise: each carries a message the user should read (already translated)."""

from __future__ import annotations


class AnnotationError(Exception):
    """A refusal the user should read (already translated)."""

    def __init__(self, message: str, *, code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.code = code


class NotAllowed(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="forbidden")


class QueueBusy(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="busy")


class LeaseLost(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="lease_lost")


class AnnotationInvalid(AnnotationError):
    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


class ShownItemMismatch(AnnotationError):
    def __init__(self, message: str):
        super().__init__(message, code="shown_mismatch")

