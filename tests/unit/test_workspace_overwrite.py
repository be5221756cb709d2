"""``overwrite`` replaces only what ROMA wrote (a folder with the marker, a ROMA file);
anything else is refused, named, and left exactly as it was."""
import os

import numpy as np
import pytest
import torch
import xarray as xr

from roma_core.cli import main
from roma_core.data import open_trajectory
from roma_core.data.store import MARKER, NotOwnedError, check_target, owned
from roma_core.data.trajectory import export_netcdf
from roma_core.dynamics import Kuramoto, simulate
from roma_core.train import checkpoint as ckpt

SIM = ["simulate", "kuramoto", "--nodes", "120", "--mean-degree", "6", "--t-end", "0.05", "--dt", "0.01",
       "--save-every", "5"]


def snapshot(folder):
    """Every file under ``folder`` with its bytes (what must survive)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def user_folder(path):
    path.mkdir()
    (path / "thesis.tex").write_text("\\section{years of work}")
    (path / "data").mkdir()
    (path / "data" / "raw.bin").write_bytes(os.urandom(256))
    (path / "zarr.json").write_text('{"zarr_format": 3, "node_type": "group"}')  # even zarr-looking
    return snapshot(path)


def test_cli_overwrite_refuses_a_folder_of_user_files(tmp_path, capsys):
    target = tmp_path / "mine.zarr"
    before = user_folder(target)
    assert main([*SIM, "--out", str(target), "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert str(target) in err and "not written by ROMA" in err
    assert snapshot(target) == before
    assert [p.name for p in tmp_path.iterdir()] == ["mine.zarr"]  # no temporary left beside it


def test_cli_overwrite_replaces_its_own_store(tmp_path, capsys):
    out = tmp_path / "run.zarr"
    assert main([*SIM, "--seed", "1", "--out", str(out)]) == 0
    assert owned(out) and not (out / MARKER).exists()  # a store's marker is its roma_kind metadata
    first = open_trajectory(out)["state"].values.copy()
    assert main([*SIM, "--seed", "2", "--out", str(out), "--overwrite"]) == 0
    second = open_trajectory(out)["state"].values
    assert second.shape == first.shape and not np.array_equal(first, second)
    assert owned(out)
    theirs = tmp_path / "theirs.zarr"  # a zarr store someone else wrote (no roma_kind)
    xr.Dataset({"state": (("time", "node"), second)}).to_zarr(theirs)
    before = snapshot(theirs)
    assert main([*SIM, "--out", str(theirs), "--overwrite"]) == 2
    assert "not written by ROMA" in capsys.readouterr().err
    assert snapshot(theirs) == before


def test_library_refuses_symlinks_and_foreign_files(small_graph, tmp_path):
    store = simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, out=tmp_path / "a.zarr")
    link = tmp_path / "link.zarr"
    link.symlink_to(tmp_path / "a.zarr")
    with pytest.raises(NotOwnedError, match="link.zarr"):  # a link to ROMA's store is still a link
        check_target(link, overwrite=True)
    assert check_target(tmp_path / "a.zarr", overwrite=True) == tmp_path / "a.zarr"
    notes = tmp_path / "notes.nc"
    notes.write_bytes(b"CDF\x01 not roma")
    with pytest.raises(NotOwnedError, match="notes.nc"):
        export_netcdf(store, notes, graph=small_graph, overwrite=True)
    assert notes.read_bytes() == b"CDF\x01 not roma"
    ours = export_netcdf(store, tmp_path / "ours.nc", graph=small_graph)
    assert owned(ours) and export_netcdf(store, ours, graph=small_graph, overwrite=True) == ours
    foreign = tmp_path / "g.npz"
    np.savez(foreign, indptr=np.zeros(3))
    assert not owned(foreign) and owned(small_graph.save(tmp_path / "h.npz"))


def test_checkpoint_run_folder_carries_the_marker(tmp_path):
    model = torch.nn.Linear(2, 2)
    ckpt.save(tmp_path / "run", model, None, {"step": 1})
    assert owned(tmp_path / "run") and (tmp_path / "run" / MARKER).read_text().count('"run"') == 1


def test_graph_and_hierarchy_saves_replace_only_their_own_files(small_graph, tmp_path):
    from roma_core.renorm import geometric

    foreign_npz = tmp_path / "notes.npz"
    np.savez(foreign_npz, results=np.arange(5))
    before = foreign_npz.read_bytes()
    foreign_store = tmp_path / "lab.zarr"
    user_folder(foreign_store)
    kept = snapshot(foreign_store)
    h = geometric(small_graph, levels=2)
    for save in (small_graph.save, h.save):
        for target in (foreign_npz, foreign_store):
            with pytest.raises(NotOwnedError, match=target.name):
                save(target)
    assert foreign_npz.read_bytes() == before and snapshot(foreign_store) == kept
    ours = small_graph.save(tmp_path / "g.npz")
    assert small_graph.save(ours) == ours and owned(ours)   # its own file is replaced
    assert h.save(tmp_path / "h.npz") and h.save(tmp_path / "h.npz")
