"""Security (6.8): SM3/SM4 primitives, field encryption, passwords and tokens."""
