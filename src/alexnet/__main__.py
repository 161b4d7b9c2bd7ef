import sys

from alexnet.cli.main import main

sys.exit(main())
