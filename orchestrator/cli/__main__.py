"""``python -m orchestrator.cli …`` is the ``scalelab`` command."""
import sys

from orchestrator.cli.app import main

sys.exit(main())
