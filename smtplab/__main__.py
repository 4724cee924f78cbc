"""``python -m smtplab`` is the ``smtplab`` command."""

import sys

from smtplab.cli import main

sys.exit(main())
