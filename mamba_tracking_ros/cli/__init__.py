"""Command-line entry points (`mamba-tracking ...`)."""
