"""`python -m salvo`: the same as the `salvo` command."""

from salvo.cli import main

main()
