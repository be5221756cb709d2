"""Training & scaling view (:class:`TrainingView`), in parts: the incremental metrics-log
reader (:mod:`.metrics`), the streamed loss curves (:mod:`.curves`), scaling results and
their plot (:mod:`.scaling`), launching runs: the job, its queue and the form (:mod:`.launch`), and the view
that ties them to widgets (:mod:`.view`)."""
from .launch import train_run
from .metrics import MetricsLog, run_info
from .scaling import Scaling, load_scaling, power_law_band, scaling_files
from .view import TrainingView

__all__ = ["TrainingView", "MetricsLog", "Scaling", "load_scaling", "power_law_band", "scaling_files",
           "train_run", "run_info"]
