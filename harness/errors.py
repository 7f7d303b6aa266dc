"""One error hierarchy: every error the harness raises on purpose is a ``HarnessError``.

- ``UsageError``: what the user asked for is wrong (an unknown backend, model or tfjs version, a
  model file of an unknown kind, a baseline that is not a report); the message names the option,
  file or field.
- ``SetupError``: the run cannot start here (no Chromium, no tfjs bundles, a reference that
  cannot prove anything); the message says what to do.
- Any other ``HarnessError`` (a damaged reference, an unreadable saved model, a page error) is the
  failure of one check: the session records it as that check's ``error`` row and goes on.

The front ends map the kinds to exit statuses in one place (``cli``); a check turns them into rows
(``run.session``).
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base of every error the harness raises on purpose; the message names what is wrong."""


class UsageError(HarnessError):
    """The user's options or files are wrong; nothing was run."""


class SetupError(HarnessError):
    """The environment or a reference cannot support a run; nothing was run."""


class NoTfjsTwin(HarnessError):
    """A model's training setup uses an optimizer, loss or setting the harness cannot build identically in tfjs."""
