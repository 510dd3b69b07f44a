"""skelcmd: cross-modal mutual distillation (CMD) for self-supervised skeleton action learning."""

__version__ = "0.1.0"
