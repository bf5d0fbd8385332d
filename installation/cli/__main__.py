"""`python -m installation.cli`: the same as the `laterna` command."""

from installation.cli.main import main

raise SystemExit(main())
