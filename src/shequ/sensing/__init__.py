"""Automatic sensing (自动感知): device types as data, topics, payload adapters, validation."""
