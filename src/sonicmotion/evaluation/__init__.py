"""Evaluation: Table 2 and Table 3 metrics on any model's output."""
