"""Application support (6.2.6): communities and regions, users, roles, organisations, audit."""
