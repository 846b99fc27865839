"""The ``xsz`` command: `main` parses the command line and runs a subcommand."""

from __future__ import annotations

from xsz.cli._main import main

__all__ = ["main"]
