"""`python -m adapters.fake_provider` runs the fake provider, like `modelmesh fake-provider`."""

import sys

from adapters.fake_provider.cli import main

sys.exit(main())
