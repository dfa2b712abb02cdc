"""mamba_tracking_ros: language-steered RGB / thermal / event tracking with Mamba state-space models."""

__version__ = "0.1.0"
