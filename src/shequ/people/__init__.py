"""Dynamic management (动态管理): persons, households, vehicles, organisations' staff."""
