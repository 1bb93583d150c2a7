"""Collectors: turn a watched source into a staged capture (files plus raw platform metadata)."""
