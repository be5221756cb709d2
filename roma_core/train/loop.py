"""The training loop shared by ROMA and every baseline.

Each step samples a random-walk subgraph (or takes the full graph) and ``windows`` time
windows from the train span, applies multiplicative input noise, and minimises
forecast (relative L2 over the horizon) and/or effective-dynamics (PDE residual at random
collocation points) losses plus the model's auxiliary losses with AdamW. Task
``effective`` fits data at the first horizon step only and lets the learned PDE carry the
rest; ``both`` fits the whole horizon and adds the residual.

Writes to ``out``: checkpoints (see :mod:`.checkpoint`) every ``checkpoint_every`` steps
and at the end, and ``metrics.jsonl``, one JSON object per line (flushed as written, so
the log can be followed live):
``{"split": "train", "step", "loss", "forecast", "effective", "aux", "nodes", "lr", "time"}``
and ``{"split": "val", "step", "rel_l2", "time"}`` (time: training seconds so far).
Under ``torchrun`` (WORLD_SIZE > 1) the model is wrapped in DistributedDataParallel;
rank 0 writes.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path

import numpy as np
import torch

from ..errors import CheckpointError, SpecError
from ..models import Batch, build, parameter_count
from ..models.phases import phase_model
from ..progress import report
from . import checkpoint as ckpt
from .device import distributed, init_distributed, resolve_device
from .losses import relative_l2
from ..data.windows import angular_blocks, min_frames, near_radii, near_table
from .sampling import Sampler


class Context:
    """Per-graph tensors (positional encodings, coordinates, prior, the prior blocks' far
    field and the fine angular blocks' near field over time) and the sampler: what turns
    windows into model batches.

    Parameters
    ----------
    windows : roma_core.data.windows.Windows
        The trajectory's windows.
    spec : roma_core.specs.ModelSpec
        Gives the positional-encoding size and the prior's supernodes.
    device : torch.device
        Where batches are moved.
    far_field : bool
        Build the far and near fields (O(T N) once per trajectory); a model that does not
        read them (``reads_far_field`` False) gets batches without them.
    resident : bool
        Keep the states, the per-graph tensors and the sampler's graph on ``device``
        (:meth:`make_resident`): batches are then built there from tensors.
    whole_graph : bool
        Give every batch the past states of every node (``Batch.graph_x``), for a model
        that reads the whole graph (``reads_whole_graph``, GINO).
    """

    def __init__(self, windows, spec, device, far_field: bool = True, resident: bool = False,
                 whole_graph: bool = False):
        self.windows = windows
        self.whole_graph = whole_graph
        theta, kappa, pe, prior = windows.node_features(spec.pos_dim, spec.supernodes)
        self.theta = torch.from_numpy(theta)
        self.kappa = torch.from_numpy(kappa)
        self.pe = torch.from_numpy(np.ascontiguousarray(pe, dtype=np.float32))
        self.prior = torch.from_numpy(prior)
        self.device = device
        self.sampler = Sampler(windows.graph)
        self.field = self.near = self.block = None
        if far_field:
            self.field = torch.from_numpy(windows.block_means(prior, spec.supernodes))   # (T, N_1, C)
        if far_field and spec.near_field:   # every fine angular block's window means, per frame: (T, K, S, C)
            block, count = angular_blocks(theta)
            self.near = near_table(windows.block_means(block, count), near_radii(spec.near_field))
            self.block = torch.from_numpy(block)
        self.resident = False
        self._adjacency = None
        if resident:
            self.make_resident()

    def make_resident(self) -> "Context":
        """Move the states, the per-graph tensors and the sampler's graph to the context's
        device; :meth:`batch` then builds batches there, with no numpy work and no copy of
        node data from the host.

        Returns
        -------
        Context
            ``self``.
        """
        for name in ("theta", "kappa", "pe", "prior", "field", "near", "block"):
            value = getattr(self, name)
            if value is not None:
                setattr(self, name, value.to(self.device))
        self.windows.to(self.device)
        self.sampler.to(self.device)
        self.resident = True
        return self

    def adjacency(self) -> torch.Tensor:
        """The whole graph's sparse adjacency (:meth:`Sampler.adjacency`) on the context's
        device, built once: the edges of a batch of every node, for whole-graph inference.

        Returns
        -------
        torch.Tensor
        """
        if self._adjacency is None:
            self._adjacency = self.sampler.adjacency(self.device)
        return self._adjacency

    def _fields(self, frames, idx) -> dict:
        """The far and near fields of frames ``(B, lookback)`` and nodes ``idx``."""
        near = None
        if self.near is not None:        # rows of the (T K, S C) table: 2-3x faster than two-axis indexing
            t, k, s, c = self.near.shape
            rows = (frames[:, :, None] * k + self.block[idx][None, None]).reshape(-1)
            near = self.near.reshape(t * k, s * c).index_select(0, rows).view(*frames.shape, len(idx), s, c)
            near = near.permute(0, 2, 3, 1, 4)
        return {"field": None if self.field is None else self.field[frames].transpose(1, 2), "near": near}

    def batch(self, starts, nodes=None, edges=None, weight=None) -> Batch:
        """A batch of windows over some nodes.

        Parameters
        ----------
        starts : array_like of int
            Window starts (a tensor on the device for a resident context).
        nodes : numpy.ndarray, optional
            int64 node ids (a tensor on the device for a resident context); default: every
            node.
        edges : numpy.ndarray or torch.Tensor, optional
            ``(2, E)`` local edge index, or for every node the sparse :meth:`adjacency`;
            default: the edges the nodes induce.
        weight : numpy.ndarray, optional
            Per-node loss weight.

        Returns
        -------
        roma_core.models.Batch
            On the context's device.
        """
        w = self.windows
        if self.resident:
            dev = self.device
            starts = torch.as_tensor(starts, dtype=torch.int64, device=dev)
            idx = torch.arange(w.graph.num_nodes, device=dev) if nodes is None else \
                torch.as_tensor(nodes, dtype=torch.int64, device=dev)
            edges = self.sampler.induced_edges_tensor(idx) if edges is None else torch.as_tensor(edges, device=dev)
            x, y = w.get_tensor(starts, None if nodes is None else idx)
            frames = starts[:, None] + torch.arange(w.lookback, device=dev)
            whole = {}
            if self.whole_graph:
                whole = {"graph_x": x if nodes is None else w.get_tensor(starts)[0], "graph_theta": self.theta}
            return Batch(x=x, y=y, edge_index=edges, theta=self.theta[idx], kappa=self.kappa[idx], pe=self.pe[idx],
                         prior=self.prior[idx], nodes=idx,
                         weight=None if weight is None else torch.as_tensor(weight, device=dev),
                         **self._fields(frames, idx), **whole)
        every = nodes is None
        if every:
            nodes = np.arange(w.graph.num_nodes)
        if edges is None:
            edges = self.sampler.induced_edges(nodes)
        x, y = w.get(starts, nodes)
        idx = torch.from_numpy(nodes)
        frames = torch.from_numpy(np.asarray(starts, np.int64)[:, None] + np.arange(w.lookback))
        whole = {}
        if self.whole_graph:
            whole = {"graph_x": torch.from_numpy(x if every else w.get(starts)[0]),     # in the graph's order
                     "graph_theta": self.theta}
        return Batch(x=torch.from_numpy(x), y=torch.from_numpy(y), edge_index=torch.as_tensor(edges),
                     theta=self.theta[idx], kappa=self.kappa[idx], pe=self.pe[idx], prior=self.prior[idx],
                     nodes=idx, weight=None if weight is None else torch.from_numpy(weight),
                     **self._fields(frames, idx), **whole).to(self.device)


def reads_far_field(model) -> bool:
    """Whether a model reads the whole graph's far and near fields (ROMA does, the
    baselines do not).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    bool
    """
    return bool(getattr(model, "reads_far_field", False))


def reads_whole_graph(model) -> bool:
    """Whether a model reads the past states of every node in each pass (GINO does).

    Parameters
    ----------
    model : torch.nn.Module

    Returns
    -------
    bool
    """
    return bool(getattr(model, "reads_whole_graph", False))


def resident_pipeline(train_spec, device: torch.device) -> bool:
    """Whether training builds its batches on the device (``train_spec.pipeline``; ``auto``:
    on CUDA).

    Parameters
    ----------
    train_spec : roma_core.specs.TrainSpec
    device : torch.device
        The compute device.

    Returns
    -------
    bool
    """
    return train_spec.pipeline == "device" or (train_spec.pipeline == "auto" and device.type == "cuda")


def pick(count: int, k: int, generator: torch.Generator) -> torch.Tensor:
    """``k`` positions out of ``count`` drawn on the generator's device: distinct when
    ``count >= k`` (as ``numpy``'s ``choice(replace=False)``), else with repeats.

    Parameters
    ----------
    count : int
    k : int
    generator : torch.Generator

    Returns
    -------
    torch.Tensor
        int64 positions on the generator's device.
    """
    if count >= k:
        return torch.randperm(count, generator=generator, device=generator.device)[:k]
    return torch.randint(0, count, (k,), generator=generator, device=generator.device)


def learning_rate(train_spec, step: int) -> float:
    """The learning rate of optimiser step ``step`` (0-based) under ``train_spec.lr_schedule``.

    Parameters
    ----------
    train_spec : roma_core.specs.TrainSpec
    step : int

    Returns
    -------
    float
    """
    if train_spec.lr_schedule == "constant" or train_spec.steps == 0:
        return train_spec.lr
    warm = max(1, min(100, train_spec.steps // 20))
    if step < warm:
        return train_spec.lr * (step + 1) / warm
    done = min(1.0, (step - warm) / max(1, train_spec.steps - warm))
    return train_spec.lr * 0.5 * (1.0 + math.cos(math.pi * done))


def _seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed % (2 ** 32))


def train(windows, model_name: str, model_spec, train_spec, out, *, resume: bool = False, progress=None,
          log=None, max_steps: int | None = None):
    """Train ``model_name`` on ``windows`` (one :class:`Windows`, or a list of them over
    several graphs: each step then draws its graph at random); returns the last train record
    plus ``params``, ``steps`` and ``model`` (the trained module, unwrapped from DDP).
    Under ``torchrun`` every process samples its own subgraphs and rank 0 writes.

    Parameters
    ----------
    windows : roma_core.data.windows.Windows or list of them
        The training data.
    model_name : str
        A name of :data:`roma_core.models.MODELS`.
    model_spec : roma_core.specs.ModelSpec
        The model's sizes (``channels`` must match the windows').
    train_spec : roma_core.specs.TrainSpec
        Steps, optimiser, sampling, task, checkpoints, device.
    out : str or os.PathLike
        The run folder: checkpoints, ``checkpoint.json`` and ``metrics.jsonl``.
    resume : bool
        Continue from the last checkpoint in ``out`` (bit-for-bit the uninterrupted run).
    progress : callable, optional
        ``progress(done, total)`` over the steps; may raise
        :class:`~roma_core.errors.Cancelled`.
    log : callable, optional
        ``log(record)`` receives each train-metrics record (the CLI feeds tqdm with it).
    max_steps : int, optional
        Stop early (for tests of interruption) without changing the schedule.

    Returns
    -------
    dict
        The last train record, plus ``params``, ``steps`` and ``model``.

    Raises
    ------
    roma_core.errors.SpecError
        For inconsistent specs or data.
    roma_core.errors.CheckpointError
        When resuming from a checkpoint of another spec.
    """
    from torch.nn.parallel import DistributedDataParallel as DDP

    graphs = list(windows) if isinstance(windows, (list, tuple)) else [windows]
    windows = graphs[0]
    if any(w.features != windows.features for w in graphs):
        raise SpecError(f"all training graphs need the same features, got {[w.features for w in graphs]}")
    rank, world, local_rank = distributed()
    if train_spec.threads:
        torch.set_num_threads(train_spec.threads)
    device = resolve_device(train_spec.device, local_rank)
    own_group = world > 1 and init_distributed(device)
    from ..specs import ModelSpec

    model_spec = ModelSpec.from_dict({**model_spec.to_dict(), "channels": windows.channels})
    train_spec.validate()
    if model_spec.predictive == "vbll" and windows.features == "phase" and not phase_model(model_spec):
        raise SpecError("a learned distribution of phases is one of the turning angle: predictive 'vbll' on phase "
                        "features needs a phase model (phase_gauge on)")
    out = Path(out)
    _seed_all(train_spec.seed)
    model = build(model_name, model_spec).to(device)
    params = parameter_count(model)
    trainable = params > 0
    opt = torch.optim.AdamW(model.parameters(), lr=train_spec.lr, weight_decay=train_spec.weight_decay,
                            fused=device.type == "cuda") if trainable else None      # fused: one launch per step
    rng = np.random.default_rng([train_spec.seed, rank])
    stopper = EarlyStop(train_spec.patience)
    resident = resident_pipeline(train_spec, device)
    noise_gen = torch.Generator(device if resident else "cpu").manual_seed(train_spec.seed * 1000 + rank)
    step, elapsed = 0, 0.0
    metrics_path = out / "metrics.jsonl"
    if resume:
        try:
            state = ckpt.read_state(out)
        except CheckpointError:
            state = None
        if state is None and rank == 0 and metrics_path.exists():
            metrics_path.unlink()                     # nothing to resume: start a fresh log
        if state is not None:
            if state["model"] != model_name or state["model_spec"] != model_spec.to_dict():
                raise CheckpointError(f"{state['path']}: cannot resume: it holds {state['model']} with spec "
                                      f"{state['model_spec']}, not {model_name} with {model_spec.to_dict()}")
            ckpt.load_weights(model, Path(state["path"]) / "model.safetensors")
            rng_torch = ckpt.load_optimizer(opt, state)
            if rng_torch is not None:
                try:
                    noise_gen.set_state(rng_torch)
                except RuntimeError as e:
                    raise CheckpointError(f"{state['path']}: cannot resume: its random state belongs to the other "
                                          f"batch pipeline (host or device) than this run's ({e})") from e
            rng.bit_generator.state = state["rng"][rank]
            step, elapsed = int(state["step"]), float(state["elapsed"])
            if rank == 0 and metrics_path.exists():
                keep = [ln for ln in metrics_path.read_text().splitlines() if ln and json.loads(ln)["step"] <= step]
                _atomic_write(metrics_path, "".join(k + "\n" for k in keep))
                for record in map(json.loads, keep):
                    if record["split"] == "val":
                        stopper.update(record["rel_l2"])
    elif rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        if metrics_path.exists():
            metrics_path.unlink()
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    net = DDP(model, find_unused_parameters=True) if (world > 1 and trainable) else model
    contexts = [Context(w, model_spec, device, far_field=reads_far_field(model), resident=resident,
                        whole_graph=reads_whole_graph(model)) for w in graphs]
    train_starts = [w.starts("train" if k == 0 else train_spec.extra_spans) for k, w in enumerate(graphs)]
    if resident:
        train_starts = [torch.as_tensor(s, device=device) for s in train_starts]
    for c in contexts:
        c.sampler.roots, c.sampler.walk_length = min(train_spec.roots, c.windows.graph.num_nodes), train_spec.walk_length
    if any(len(s) == 0 for s in train_starts):
        raise SpecError("no training windows: the train span is shorter than lookback + horizon")
    for split in ("val", "test"):              # a span held out, but too short for a window
        lo, hi = windows.bounds[split]
        if hi > lo and len(windows.starts(split)) == 0:
            need = min_frames(windows.lookback, windows.horizon, train_spec.val_fraction, train_spec.test_fraction)
            raise SpecError(f"the {split} span holds {hi - lo} of the trajectory's {len(windows.raw)} frames, fewer "
                            f"than the horizon ({windows.horizon}): no {split} window. Simulate at least {need} "
                            f"frames for lookback {windows.lookback} + horizon {windows.horizon}, shorten the "
                            f"windows, or set {split}_fraction to 0")
    ctx = contexts[0]
    task = train_spec.task
    bayes = getattr(getattr(model, "decoder", None), "vbll", None)     # the learned distribution's layer
    own = set() if bayes is None else {id(p) for p in bayes.parameters()}
    clip_groups = [[p for p in model.parameters() if id(p) not in own]] + ([list(bayes.parameters())] if own else [])
    observations = sum(len(s) * c.windows.graph.num_nodes for s, c in zip(train_starts, contexts)) \
        * model_spec.horizon * (bayes.channels if bayes is not None else 1)        # N of its ELBO
    base_state = {"model": model_name, "model_spec": model_spec.to_dict(), "train_spec": train_spec.to_dict(),
                  "params": params, "features": windows.features, "norm": windows.norm,
                  "graph_fingerprint": windows.graph.fingerprint(),
                  "train_graphs": [w.graph.fingerprint() for w in graphs], "world_size": world}
    last = {}
    stop = train_spec.steps if max_steps is None else min(train_spec.steps, max_steps)
    t_start = time.perf_counter() - elapsed          # training time only (encodings are cached setup)
    metrics_file = open(metrics_path, "a", buffering=1) if rank == 0 else None
    try:
        while step < stop and trainable:
            if train_spec.time_budget and time.perf_counter() - t_start >= train_spec.time_budget:
                break
            g = int(rng.integers(len(contexts))) if len(contexts) > 1 else 0
            step_ctx, starts_all = contexts[g], train_starts[g]
            walk = train_spec.sampler == "walk"
            if resident:                 # every number from the device's generator, no numpy work
                nodes = step_ctx.sampler.walk_tensor(noise_gen) if walk else None
                starts = starts_all[pick(len(starts_all), train_spec.windows, noise_gen)]
            else:
                nodes = step_ctx.sampler.walk(rng) if walk else None
                starts = rng.choice(starts_all, size=train_spec.windows, replace=len(starts_all) < train_spec.windows)
            batch = step_ctx.batch(starts, nodes)
            if train_spec.noise > 0:
                eps = torch.randn(batch.x.shape, generator=noise_gen, device=noise_gen.device).to(device)
                batch.x = batch.x * (1 + train_spec.noise * eps)
            colloc = None
            if task in ("effective", "both"):
                m = train_spec.collocation
                b, n = batch.x.shape[:2]
                if resident:
                    colloc = torch.stack([torch.randint(0, hi, (m,), generator=noise_gen, device=device)
                                          for hi in (b, n, model_spec.horizon)], 1)
                else:
                    colloc = torch.from_numpy(np.stack([rng.integers(0, b, m), rng.integers(0, n, m),
                                                        rng.integers(0, model_spec.horizon, m)], 1)).to(device)
            lr = learning_rate(train_spec, step)
            for group in opt.param_groups:
                group["lr"] = lr
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=train_spec.precision == "bf16"):
                pred = net(batch, colloc, train_spec.residual)
            values = pred.values.float()
            if task == "effective":
                fc = relative_l2(values[:, :, :1], batch.y[:, :, :1])
            else:
                fc = relative_l2(values, batch.y)
            eff = pred.aux_losses.get("effective", torch.zeros((), device=device)).float()
            aux = sum((v.float() for k, v in pred.aux_losses.items() if k != "effective"),
                      torch.zeros((), device=device))
            elbo = torch.zeros((), device=device)
            if bayes is not None:        # its own loss: the negative ELBO per observation, beside the point loss
                elbo = bayes.loss(model.decoder.residual(values.detach(), batch.y), pred.weight_var.float(),
                                  pred.noise_var.float(), model.decoder.branch, observations)
            loss = fc + train_spec.effective_weight * eff + aux + elbo
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if train_spec.grad_clip > 0:         # the learned distribution's layer apart: the point model's
                for group in clip_groups:          # steps stay those of a point model
                    torch.nn.utils.clip_grad_norm_(group, train_spec.grad_clip)
            opt.step()
            step += 1
            vals = torch.stack([loss.detach(), fc.detach(), eff.detach(), aux.detach(), elbo.detach()])
            if world > 1:
                torch.distributed.all_reduce(vals)
                vals /= world
            loss_v, fc_v, eff_v, aux_v, elbo_v = vals.tolist()          # one copy to the host per step, not five
            last = {"split": "train", "step": step, "loss": loss_v, "forecast": fc_v,
                    "effective": eff_v, "aux": aux_v, "nodes": int(batch.num_nodes),
                    "lr": lr, "time": round(time.perf_counter() - t_start, 4)}
            if bayes is not None:
                last["elbo"] = elbo_v
            if metrics_file:
                metrics_file.write(json.dumps(last) + "\n")
            if log:
                log(last)
            report(progress, step, train_spec.steps)
            if train_spec.eval_every and step % train_spec.eval_every == 0:
                val = validate(model, ctx, "val") if rank == 0 else None
                if metrics_file and val is not None:
                    metrics_file.write(json.dumps({"split": "val", "step": step, "rel_l2": val,
                                                   "time": round(time.perf_counter() - t_start, 4)}) + "\n")
                done = torch.tensor(float(val is not None and stopper.update(val)))
                if world > 1 and train_spec.patience:
                    torch.distributed.broadcast(done, 0)
                if done:
                    stop = step
            if step % train_spec.checkpoint_every == 0 or step == stop:
                _save(out, model, opt, base_state, step, t_start, rng, noise_gen, rank, world, metrics_file)
        if step == 0 or not trainable or (step % train_spec.checkpoint_every and step != stop):
            _save(out, model, opt, base_state, step, t_start, rng, noise_gen, rank, world, metrics_file)
    finally:
        if metrics_file:
            metrics_file.close()
    if world > 1:
        torch.distributed.barrier()
        del net                 # the DDP reducer goes before its process group, not at exit
        if own_group:           # left to interpreter exit, gloo's threads could abort the process
            torch.distributed.destroy_process_group()
    return {**last, "params": params, "steps": step, "model": model}


class EarlyStop:
    """The early-stopping rule of ``TrainSpec.patience``: stop once ``patience`` validation
    passes in a row have not lowered the best validation error by 1 %.

    Parameters
    ----------
    patience : int
        Passes without such an improvement before stopping (0: never stop).
    """

    def __init__(self, patience: int):
        self.patience, self.best, self.stale = patience, math.inf, 0

    def update(self, error: float) -> bool:
        """Record one validation error; whether training should stop now.

        Parameters
        ----------
        error : float

        Returns
        -------
        bool
        """
        if error < 0.99 * self.best:
            self.best, self.stale = error, 0
        else:
            self.best, self.stale = min(self.best, error), self.stale + 1
        return bool(self.patience) and self.stale >= self.patience


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _save(out, model, opt, base_state, step, t_start, rng, noise_gen, rank, world, metrics_file):
    states = [rng.bit_generator.state]
    if world > 1:
        states = [None] * world
        torch.distributed.all_gather_object(states, rng.bit_generator.state)
    if rank == 0:
        if metrics_file:
            metrics_file.flush()
        ckpt.save(out, model, opt, {**base_state, "step": step, "elapsed": time.perf_counter() - t_start,
                                    "rng": states}, rng_torch=noise_gen.get_state())


@torch.no_grad()
def validate(model, ctx, split: str, max_windows: int = 8):
    """Mean relative L2 over up to ``max_windows`` evenly spaced windows of ``split``.

    Parameters
    ----------
    model : torch.nn.Module
        The model; evaluated in eval mode, then returned to its former mode.
    ctx : Context
        The trajectory's windows and per-graph tensors.
    split : {"train", "val", "test", "all"}
        Which windows.
    max_windows : int
        Most windows evaluated.

    Returns
    -------
    float or None
        The error; None when the split has no windows.
    """
    from ..eval.predict import predict

    starts = ctx.windows.starts(split)
    if len(starts) == 0:
        return None
    starts = starts[np.linspace(0, len(starts) - 1, min(max_windows, len(starts))).astype(int)]
    was = model.training
    model.eval()
    pred, y = predict(model, ctx, starts)
    model.train(was)
    return float(relative_l2(torch.from_numpy(pred), torch.from_numpy(y)))
