"""halo-forge: one command surface for post-training language models.

Importing this package is cheap on purpose: it loads no torch, transformers, prefect or
mlflow. Trainers import their heavy dependencies when they are built.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
