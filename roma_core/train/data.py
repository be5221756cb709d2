"""Open a trajectory store as training windows."""
from __future__ import annotations

from ..data.windows import Windows


def load_windows(path, model_spec, train_spec=None, *, features=None, norm=None) -> Windows:
    """Windows over the trajectory at ``path`` (zarr store or netCDF export, graph inside)."""
    from ..data import open_trajectory, trajectory_graph
    from ..specs import TrainSpec

    t = train_spec or TrainSpec()
    ds = open_trajectory(path)
    graph = trajectory_graph(path)
    return Windows.from_dataset(ds, graph, features=features or t.features, lookback=model_spec.lookback,
                                horizon=model_spec.horizon, stride=t.stride, val_fraction=t.val_fraction,
                                test_fraction=t.test_fraction, norm=norm)
