"""``python -m sessionbeat``: the same as the ``sessionbeat`` console script."""

import sys

from sessionbeat._entry import main

sys.exit(main())
