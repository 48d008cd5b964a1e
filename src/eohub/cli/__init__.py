"""The ``eohub`` command line."""

from eohub.cli.main import main, run

__all__ = ["main", "run"]
