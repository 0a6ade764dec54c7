"""Errors a user can fix, shared by every door into the assistant (CLI, API, chat)."""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix (bad option, unreachable store); printed without a traceback."""


class QuestionError(ValueError):
    """The question itself is unusable (empty, too long); ``status`` is the HTTP status to use."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status
