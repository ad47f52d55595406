import sys

from sofkd_lib.cli.main import main

sys.exit(main())
