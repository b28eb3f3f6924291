"""`python -m hankebot ...`: the same program as the `hankebot` command."""
import sys

from hankebot.app import main

sys.exit(main())
