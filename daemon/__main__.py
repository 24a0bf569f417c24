"""`python -m daemon` is the same as the `autodoc` command."""

from daemon.cli import main

raise SystemExit(main())
