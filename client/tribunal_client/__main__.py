import sys

from tribunal_client.cli import main

sys.exit(main())
