"""Measurements of keras-meta against what Keras users use today."""
