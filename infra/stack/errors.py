"""Errors of the local stack.

StackError                 root of everything raised by `infra.stack`
├── ServiceNotReady        a service did not start, died, or is not reachable (named)
└── ServiceMissing         a binary or jar is not installed (names how to get it)
"""

from __future__ import annotations


class StackError(Exception):
    """Root of the local stack's errors."""


class ServiceNotReady(StackError):
    """A service did not become ready, exited, or cannot be reached; the message names it."""


class ServiceMissing(StackError):
    """A service's binary is not installed; the message names how to get it."""
