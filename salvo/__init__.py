"""The `salvo` command and the local stack: the CLI, the demo, and child-process helpers."""
