"""``python -m smtplab`` is the ``smtplab`` command."""

from smtplab.cli import run

run()
