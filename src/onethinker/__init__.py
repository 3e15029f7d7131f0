"""OneThinker: one multimodal reasoning model for image and video across ten visual tasks."""

__version__ = "0.1.0"

__all__ = ["Prediction", "Predictor"]


def __getattr__(name: str):
    # Lazy: `import onethinker` stays light; the Predictor pulls torch/transformers only when used.
    if name in __all__:
        from onethinker import predictor

        return getattr(predictor, name)
    raise AttributeError(f"module 'onethinker' has no attribute {name!r}")
