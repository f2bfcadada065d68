"""``python -m monitor.entrypoints.cli``: the ``samd-monitor`` command."""

from monitor.entrypoints.cli import main

main()
