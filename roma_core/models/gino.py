"""GINO, the geometry-informed neural operator (Li et al., NeurIPS 2023), from the
``neuraloperator`` library, as a global baseline on the circle of node angles."""
from __future__ import annotations

import contextlib
import io
import math
from dataclasses import replace

import torch

from .base import InputEmbedding, OperatorModel
from .decoder import ResidualMLP
from .phases import mean_phase, turn_phases


def segment_csr(src, indptr, reduction, use_scatter=False):
    """The neighbourhood reduction of ``neuraloperator``'s integral transform (its
    ``segment_csr``: the sum or mean of ``src`` over each CSR segment ``indptr``, along the
    points' axis, 0 for empty segments) with torch's own ``segment_reduce``. Without the
    optional ``torch_scatter`` the library falls back to a Python loop over the output
    points, tens of times slower on a CPU; this is the same reduction as one kernel.

    Parameters
    ----------
    src : torch.Tensor
        ``(nnz, C)`` or ``(B, nnz, C)`` features of every (point, neighbour) pair.
    indptr : torch.Tensor
        ``(m + 1,)`` or ``(B, m + 1)`` segment offsets.
    reduction : {"sum", "mean"}
    use_scatter : bool
        Ignored (the library's signature).

    Returns
    -------
    torch.Tensor
        ``(m, C)`` or ``(B, m, C)``.
    """
    out = torch.segment_reduce(src, "sum", offsets=indptr, axis=src.ndim - 2)
    if reduction == "mean":
        out = out / (indptr[..., 1:] - indptr[..., :-1]).clamp(min=1).unsqueeze(-1).to(out.dtype)
    return out


class GINO(OperatorModel):
    r"""A neural operator with a global receptive field: every node's past window is carried
    to a regular latent grid on the circle, an FNO acts there, and the result is carried back
    to each node of the batch, where it joins the node's own embedding.

    .. math::

        v(\phi_g) = \frac{1}{|A_g|}\sum_{j \in A_g} k_\mathrm{in}(\phi_g, \theta_j) \odot x_j,
        \qquad w = \mathrm{FNO}(v),
        \qquad h_i = \mathrm{MLP}\Big(e_i + \sum_{g:\,|\phi_g - \theta_i| < r} k_\mathrm{out}(\theta_i, \phi_g)\, w(\phi_g)\Big)

    with :math:`x_j` node :math:`j`'s lookback window (in the window's phase gauge for
    Kuramoto), :math:`\phi_g = 2\pi g / G` the ``G = supernodes`` latent points, :math:`A_g`
    the nodes within chord distance :math:`r` (one grid spacing) of :math:`\phi_g`, learned
    kernels :math:`k` (MLPs of sinusoidal embeddings of both points), :math:`e_i` the shared
    input embedding and the shared DeepONet decoder after :math:`h_i`.

    Nodes sit at their **angle** θ, as points (cos θ, sin θ) of the unit circle (so the
    neighbour search wraps around), not at their position in the disk: the long-range
    coupling is a function of angular distance alone, hence a convolution on the circle,
    which the FNO's Fourier layers on a periodic 1-D grid represent exactly; the radial
    coordinate (hidden degree) is a property of the node, and enters through :math:`e_i`.
    Each pass reads the **whole graph's** state (``Batch.graph_x``), as the operator is
    meant to; the sampled batch only chooses where the output is queried.

    Parameters
    ----------
    spec : roma_core.specs.ModelSpec
        ``hidden`` is the FNO's and the kernels' width, ``layers`` its Fourier layers,
        ``supernodes`` the latent grid's points (``supernodes // 4`` Fourier modes).
    """

    name = "gino"
    reads_whole_graph = True

    def __init__(self, spec):
        import neuralop.layers.integral_transform as transform
        from neuralop.models import GINO as LibraryGINO

        transform.segment_csr = segment_csr

        super().__init__(spec, spec.hidden)
        d, grid = spec.hidden, spec.supernodes
        features = spec.lookback * spec.channels
        radius = 2 * math.sin(math.pi / grid)            # chord of one grid spacing
        self.embed = InputEmbedding(spec, d)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints that its FNO is 1-D and its points 2-D
            self.operator = LibraryGINO(
                in_channels=features, out_channels=d, gno_coord_dim=2, fno_n_modes=(max(1, grid // 4),),
                fno_hidden_channels=d, fno_n_layers=spec.layers, fno_in_channels=features,
                fno_lifting_channel_ratio=1, projection_channel_ratio=1, in_gno_radius=radius,
                out_gno_radius=radius, gno_embed_channels=8, in_gno_channel_mlp_hidden_layers=[d, d],
                out_gno_channel_mlp_hidden_layers=[d, d], gno_use_open3d=False, gno_use_torch_scatter=False)
        phi = torch.arange(grid, dtype=torch.float32) * (2 * math.pi / grid)
        self.register_buffer("latent", torch.stack([torch.cos(phi), torch.sin(phi)], -1), persistent=False)
        self.mix = ResidualMLP(d, d, 1, d)

    def state_dict(self, *args, **kwargs):
        """The weights only: the library adds its constructor's arguments under ``_metadata``,
        which a safetensors checkpoint neither holds nor needs (the spec rebuilds the model).

        Parameters
        ----------
        *args, **kwargs
            As for :meth:`torch.nn.Module.state_dict`.

        Returns
        -------
        dict
        """
        state = super().state_dict(*args, **kwargs)
        state.pop("_metadata", None)
        return state

    def reference_phase(self, batch):
        """See :meth:`OperatorModel.reference_phase`: the whole graph's mean phase."""
        if batch.reference is not None:
            return batch.reference
        return mean_phase(batch.graph_x[:, :, -1, :])

    def gauged(self, batch):
        """See :meth:`OperatorModel.gauged`; the whole graph's states turn with the batch's."""
        turned, angle = super().gauged(batch)
        if angle is None:
            return turned, None
        return replace(turned, graph_x=turn_phases(batch.graph_x, -angle)), angle

    def node_level(self, batch):
        """See :meth:`OperatorModel.node_level`: the operator on the whole graph's state,
        queried at the batch's nodes."""
        if batch.graph_x is None:
            raise ValueError("GINO reads the whole graph: build its batches with Context(..., whole_graph=True)")
        b, n_all = batch.graph_x.shape[:2]
        where = lambda theta: torch.stack([torch.cos(theta), torch.sin(theta)], -1)   # noqa: E731
        field = self.operator(input_geom=where(batch.graph_theta)[None], latent_queries=self.latent[None],
                              output_queries=where(batch.theta)[None], x=batch.graph_x.reshape(b, n_all, -1))
        return self.mix(torch.nn.functional.silu(self.embed(batch) + field))
