"""Evaluation: chunked full-graph forecasts, metrics, comparisons and power-law scaling fits."""
from .evaluate import evaluate, forecast_run, load_run
from .predict import Forecast, forecast
from .scaling import fit_power_law

__all__ = ["evaluate", "forecast_run", "load_run", "Forecast", "forecast", "fit_power_law"]
