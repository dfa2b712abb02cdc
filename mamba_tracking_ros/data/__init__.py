"""Sequences, simulators and dataset readers (no ROS)."""
