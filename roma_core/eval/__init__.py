"""Evaluation: chunked full-graph forecasts, metrics, comparisons and power-law scaling fits."""
from .evaluate import evaluate, forecast_run, load_run
from .predict import Forecast, forecast
from .scaling import fit_ladder, fit_power_law, run_ladder, run_ladder_dask

__all__ = ["evaluate", "forecast_run", "load_run", "Forecast", "forecast", "fit_power_law", "fit_ladder", "run_ladder",
           "run_ladder_dask"]
