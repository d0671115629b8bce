"""Agentic training pieces (tool use, function calling): the tool-call text format, the built-in tool
world's tools, multi-turn rollouts that execute the model's calls, episode rewards and held-out figures.

Importing this package loads nothing heavy; torch and transformers load inside the functions that use them.
"""
