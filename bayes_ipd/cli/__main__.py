"""``python -m bayes_ipd.cli``."""

import sys

from bayes_ipd.cli import main

sys.exit(main())
