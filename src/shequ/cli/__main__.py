"""`python -m shequ.cli`."""

from shequ.cli.main import app

app()
