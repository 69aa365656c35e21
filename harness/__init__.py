"""harness: benchmark TFLite LLMs on Android devices over ADB."""
__version__ = "0.1.0"
