"""``python -m eohub`` runs the command line."""

from eohub.cli import run

run()
