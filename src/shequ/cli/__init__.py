"""The `shequ` command line."""
