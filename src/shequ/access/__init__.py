"""Access control (出入管理): doors, credentials, passes, watch-lists, visitors."""
