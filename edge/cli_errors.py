"""One way for every command to end on an error a user can cause: one line, exit 1.

Every command of the project (``edge-identify``, ``edge-enroll``, ``edge-bench``,
``edge-gallery``, ``siamese-train``, ``siamese-convert``) is made with ``cls=OneLine``
(or ``OneLineGroup``): an error of a kind a user can cause (``USER_ERRORS``: a bad
bundle, gallery, photo, source, enrolment or file, and any a command adds with
``extra_errors``) that escapes the command is printed as ``Error: <its first line>`` on
stderr, with exit status 1 and no traceback. Inside a command, ``fail(message)`` does the
same for a message of its own. Anything else is a bug, and keeps its traceback.
"""
from __future__ import annotations

import sqlite3

import click


def fail(message) -> None:
    """End the command: ``Error: <first line of message>`` and exit status 1."""
    raise click.ClickException(one_line(message))


def one_line(error) -> str:
    """The first line of an error's message (its kind, if it has none)."""
    text = str(error).strip()
    if isinstance(error, sqlite3.Error):
        text = f"gallery database error: {text}"
    return text.splitlines()[0] if text else type(error).__name__


def user_errors() -> tuple:
    """The errors a user can cause, from the packages that define them."""
    from edge.enrolment import EnrolError
    from edge.images import ImageError
    from edge.manifest import BundleError
    from edge.sources import SourceError
    from gallery.errors import GalleryError

    return (BundleError, GalleryError, SourceError, ImageError, EnrolError, OSError,
            sqlite3.Error)


class _OneLine:
    extra_errors: tuple = ()   # classes, or "module:Class" imported only if an error comes

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            if isinstance(exc, (*user_errors(), *map(_resolve, self.extra_errors))):
                raise click.ClickException(one_line(exc)) from None
            raise


def _resolve(error):
    if isinstance(error, str):
        import importlib

        module, name = error.split(":")
        return getattr(importlib.import_module(module), name)
    return error


class OneLine(_OneLine, click.Command):
    """A click command whose user errors end in one line (see the module)."""


class OneLineGroup(_OneLine, click.Group):
    """A click group whose commands' user errors end in one line (see the module)."""


def with_errors(*errors, group: bool = False):
    """A ``OneLine`` (or ``OneLineGroup``) class that also ends ``errors`` (classes, or
    "module:Class" for a command whose modules load only when it runs) in one line."""
    base = OneLineGroup if group else OneLine
    return type(base.__name__, (base,), {"extra_errors": tuple(errors)})
