"""OneThinker: one multimodal reasoning model for image and video across ten visual tasks."""

__version__ = "0.1.0"
