"""The longer commands of the CLI (app/cli.py), each a module holding `command`."""
