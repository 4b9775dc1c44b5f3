"""Generic building blocks with no domain knowledge: database, errors, i18n, ledgers."""
