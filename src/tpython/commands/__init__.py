"""One module per informational subcommand."""
