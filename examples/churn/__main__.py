import sys

from examples.churn.cli import main

sys.exit(main())
