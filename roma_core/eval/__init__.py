"""Evaluation: chunked full-graph forecasts, metrics, comparisons and power-law scaling fits."""
