"""Readers per format, validation, segmentation into passages, and topic extraction."""
