"""Notifications: an in-app inbox and pluggable outbound senders (log, SMS, WeChat)."""
