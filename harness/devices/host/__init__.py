"""The ``host`` device: this machine, running models with TensorFlow's interpreter."""
