"""Open a trajectory store as training windows."""
from __future__ import annotations

from ..data.windows import Windows


def load_windows(path, model_spec, train_spec=None, *, features=None, norm=None) -> Windows:
    """Windows over a stored trajectory, sized by the model's lookback and horizon.

    Parameters
    ----------
    path : str or os.PathLike
        A trajectory store or netCDF export (the graph inside).
    model_spec : roma_core.specs.ModelSpec
        Gives ``lookback`` and ``horizon``.
    train_spec : roma_core.specs.TrainSpec, optional
        Gives the stride, the split fractions and the feature transform.
    features : str, optional
        Overrides the spec's transform (a checkpoint's, when evaluating).
    norm : tuple of float, optional
        ``(mean, std)`` of the identity transform (a checkpoint's).

    Returns
    -------
    roma_core.data.windows.Windows
    """
    from ..data import open_trajectory, trajectory_graph
    from ..specs import TrainSpec

    t = train_spec or TrainSpec()
    ds = open_trajectory(path)
    graph = trajectory_graph(path)
    return Windows.from_dataset(ds, graph, features=features or t.features, lookback=model_spec.lookback,
                                horizon=model_spec.horizon, stride=t.stride, val_fraction=t.val_fraction,
                                test_fraction=t.test_fraction, norm=norm)
