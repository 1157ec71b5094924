"""What the client library raises: a request it refuses or the cluster cannot satisfy, the message saying what is
wrong (the CLI prints it; the actions service maps each kind to a Connect code)."""

from __future__ import annotations


class ClientError(Exception):
    """A request the client refuses or the cluster cannot satisfy; the message says what is wrong."""


class InvalidName(ClientError, ValueError):
    pass


class NotFound(ClientError):
    pass


class SignalRefused(ClientError):
    """The condition cannot take this signal now (not a condition, already signalled otherwise, already ended)."""


class InvalidSignal(SignalRefused):
    """The value itself is wrong: not a simple primitive, or not the condition's declared type."""
