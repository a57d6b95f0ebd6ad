"""`python -m adapters.proxy` is `modelmesh serve` (API.md section 5)."""

import sys

from adapters.cli_commands import serve_main

sys.exit(serve_main())
