"""Trajectory data: zarr/netCDF stores with atomic writes (training windows live in
``roma_core.data.windows``)."""
from .trajectory import (describe, export_netcdf, open_trajectory, save_trajectory, trajectory_graph)

__all__ = ["describe", "export_netcdf", "open_trajectory", "save_trajectory", "trajectory_graph"]
