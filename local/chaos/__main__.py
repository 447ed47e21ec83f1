"""`python -m local.chaos`: the fault-injection suite (see local.chaos.run)."""

import sys

from local.chaos.run import main

if __name__ == "__main__":
    sys.exit(main())
