"""Shequ (社区): a CIM-based smart community platform."""

__version__ = "0.1.0"
