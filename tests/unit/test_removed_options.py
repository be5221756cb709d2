"""ModelSpec options that were taken out (``specs.REMOVED_OPTIONS``): a spec or checkpoint
that used one is refused in one line naming the option and the last version that had it;
one that left it off (checkpoints store every field) loads, evaluates and resumes as before."""
import json
import shutil
import sys
from pathlib import Path

import pytest
import torch

from roma_core.errors import CheckpointError, SpecError
from roma_core.specs import REMOVED_OPTIONS, ModelSpec
from roma_core.train import checkpoint as ckpt

sys.path.insert(0, str(Path(__file__).parent))
from test_train import kuramoto_states, spec, tspec  # noqa: E402

ON = {"far_dropout": 0.5, "neighbour_field": True, "angular_neighbours": 4, "node_attention": True,
      "far_response": True}
OFF = {name: off for name, (off, _) in REMOVED_OPTIONS.items()}


def test_the_table_names_each_removed_option_and_its_last_version():
    assert set(REMOVED_OPTIONS) == set(ON) and {v for _, v in REMOVED_OPTIONS.values()} == {"0.1.0"}
    assert not set(REMOVED_OPTIONS) & set(ModelSpec._fields())


@pytest.mark.parametrize("name", sorted(ON))
def test_a_spec_that_uses_a_removed_option_names_it_and_its_last_version(name):
    old = {**ModelSpec().to_dict(), **OFF, name: ON[name]}
    for load in (lambda: ModelSpec.from_dict(old), lambda: ModelSpec.from_json(json.dumps(old))):
        with pytest.raises(SpecError) as err:
            load()
        message = str(err.value)
        assert name in message and "0.1.0" in message and "\n" not in message, message
        assert not any(other in message for other in ON if other != name), message


def test_a_spec_that_leaves_the_removed_options_off_loads_silently(recwarn):
    old = {**ModelSpec(hidden=8, heads=2).to_dict(), **OFF}
    assert ModelSpec.from_dict(old).to_dict() == ModelSpec(hidden=8, heads=2).to_dict()
    assert ModelSpec.from_json(json.dumps(old)).to_dict() == ModelSpec(hidden=8, heads=2).to_dict()
    assert ModelSpec.from_dict({"node_attention": 0, "angular_neighbours": False}).to_dict() == ModelSpec().to_dict()
    assert not recwarn.list


def shipped_run(tmp_path):
    """A copy of the shipped run and the record of its checkpoint."""
    from roma_core.assets import asset_path

    run = tmp_path / "run"
    shutil.copytree(asset_path("roma_kuramoto_2k"), run)
    return run, next(run.glob("ckpt_*/checkpoint.json"))


def set_spec(record: Path, **values):
    state = json.loads(record.read_text())
    state["model_spec"].update(values)
    record.write_text(json.dumps(state))


def test_a_checkpoint_that_used_a_removed_option_is_refused_in_one_line(tmp_path):
    run, record = shipped_run(tmp_path)
    set_spec(record, **{**OFF, "node_attention": True})
    with pytest.raises(CheckpointError) as err:
        ckpt.load_model(run)
    message = str(err.value)
    assert "node_attention" in message and "0.1.0" in message and "\n" not in message, message


def test_a_checkpoint_that_left_the_removed_options_off_forecasts_as_before(tmp_path):
    from roma_core.assets import asset_path
    from roma_core.eval import evaluate

    run, record = shipped_run(tmp_path)
    data = asset_path("kuramoto_2k.zarr")
    before = evaluate(run, data, max_windows=2, scales=False)
    set_spec(record, **OFF)
    model, state = ckpt.load_model(run)
    assert not set(REMOVED_OPTIONS) & set(state["model_spec"]) and model.spec.near_field == 0
    after = evaluate(run, data, max_windows=2, scales=False)
    assert after["rel_l2"] == before["rel_l2"] and after["rel_l2_per_step"] == before["rel_l2_per_step"]


def test_a_run_whose_checkpoint_stores_the_removed_options_off_resumes(tmp_path):
    from roma_core.data.windows import Windows
    from roma_core.graphs import hyperbolic_graph
    from roma_core.train import train

    g = hyperbolic_graph(200, mean_degree=6, seed=2)
    w = Windows(g, kuramoto_states(g, steps=60), lookback=6, horizon=3, features="phase")
    out = tmp_path / "run"
    train(w, "roma", spec(), tspec(steps=4, checkpoint_every=2), out, max_steps=2)
    set_spec(out / "ckpt_00000002" / "checkpoint.json", **OFF)
    train(w, "roma", spec(), tspec(steps=4, checkpoint_every=2), out, resume=True)
    model, state = ckpt.load_model(out)
    assert state["step"] == 4 and all(torch.isfinite(p).all() for p in model.parameters())
