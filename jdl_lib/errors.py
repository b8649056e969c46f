"""One family of errors. Every message says what went wrong, where, and how to fix it,
and never contains personal data (names, dates of birth, PNC IDs, prison numbers)."""

from __future__ import annotations


class JdlError(Exception):
    """Base class of every error the lab raises on purpose."""


class SpecError(JdlError):
    """A parameter file (request specification) is invalid; the message lists every problem."""


class IntakeError(JdlError):
    """A charity's upload cannot be analysed (unreadable, wrong columns, too few valid people)."""


class StoreError(JdlError):
    """The national store is missing, incomplete, or an extract breaks the store contract."""


class LinkageError(JdlError):
    """Record linkage could not run (bad settings, empty inputs)."""


class MatchingError(JdlError):
    """Matching could not build a control group (no candidates, no common support)."""


class DisclosureError(JdlError):
    """An output would break a disclosure-control rule (group too small, differencing)."""


class JdlWarning(UserWarning):
    """A methodological choice made for the user; it is recorded for the report's method annex."""


class SynthesisError(JdlError):
    """Published reports cannot be pooled as asked (too few, a bad setting, a malformed report)."""
