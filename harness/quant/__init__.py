"""Quantization search: ``int8-auto`` (modules kept in float by measured sensitivity) and recipe tuning."""
