"""`python -m edgeopt.cli`: the `edgeopt` command run by this interpreter."""

from edgeopt.cli import main

main()
