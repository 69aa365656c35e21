"""Step 2 of the pipeline: a Keras GPT-2 into TFLite variants, cached by content.

``convert(source, variants, max_length, export=...)`` returns one ``Converted`` per
variant (the .tflite file and its conversion report). Variants live in ``variants``,
the exported graphs in ``exports``, the TensorFlow work in ``worker`` processes.
"""
from harness.convert.artifact import Converted


def convert(*args, **kwargs):
    """``harness.convert.pipeline.convert`` (imported on first use: the CLI's parser needs only names)."""
    from harness.convert.pipeline import convert as run

    return run(*args, **kwargs)


__all__ = ["Converted", "convert"]
