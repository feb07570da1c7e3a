"""Meta-training: synthetic task families, look-ahead labels, DAgger (in progress)."""
