"""The workspace: every user path resolves inside it (or, for reading, inside the read-only
assets); escapes are refused with a message; its stores, graphs, runs are listed."""
import os
from pathlib import Path

import pytest

from roma_core.errors import AccessError
from roma_core.workspace import Workspace, default_root

ASSETS = Path(__file__).resolve().parents[2] / "assets"


@pytest.fixture
def ws(tmp_path):
    return Workspace(tmp_path / "ws", readonly=[ASSETS])


def test_created_on_first_use_and_default_is_per_user(tmp_path, monkeypatch):
    root = tmp_path / "a" / "b"
    assert Workspace(root).root == root.resolve() and root.is_dir()
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_root() == tmp_path / "xdg" / "roma-explorer"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_root() == Path.home() / ".local" / "share" / "roma-explorer"


def test_paths_inside_resolve(ws):
    assert ws.resolve("runs/a.zarr", write=True) == ws.root / "runs" / "a.zarr"
    assert ws.resolve(str(ws.root / "x.npz")) == ws.root / "x.npz"
    assert ws.resolve(" ./g.npz ") == ws.root / "g.npz"
    shipped = ASSETS / "kuramoto_2k.zarr"
    assert ws.resolve(str(shipped)) == shipped.resolve()   # the assets can be read ...
    with pytest.raises(AccessError, match="read-only"):    # ... never written
        ws.resolve(str(shipped), write=True)


@pytest.mark.parametrize("bad, why", [
    ("/etc/passwd", "outside"), ("/", "outside"), ("../x.zarr", r"'\.\.'"), ("a/../../etc", r"'\.\.'"),
    ("~/x.npz", "'~'"), ("", "no path"), ("   ", "no path"), ("a\x00b", "control"), ("a\nb", "control"),
    (str(ASSETS.parent / "README.md"), "outside"), ("/tmp", "outside")])
def test_escapes_are_refused(ws, bad, why):
    with pytest.raises(AccessError, match=why):
        ws.resolve(bad)


def test_symlinks_leading_out_are_refused(ws, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "key.npz").write_bytes(b"x")
    (ws.root / "door").symlink_to(secret)
    (ws.root / "file.npz").symlink_to(secret / "key.npz")
    (ws.root / "inner").mkdir()
    (ws.root / "ok").symlink_to(ws.root / "inner")
    for bad in ("door", "door/key.npz", "file.npz", str(ws.root / "door" / "key.npz")):
        with pytest.raises(AccessError, match="symbolic link"):
            ws.resolve(bad)
    assert ws.resolve("ok/x.zarr", write=True) == ws.root / "inner" / "x.zarr"  # links inside stay allowed


def test_message_does_not_reveal_whether_an_outside_path_exists(ws, tmp_path):
    msgs = []
    for p in (tmp_path / "exists", tmp_path / "missing"):
        (tmp_path / "exists").mkdir(exist_ok=True)
        with pytest.raises(AccessError) as info:
            ws.resolve(str(p))
        msgs.append(str(info.value).replace(str(p), "P"))
    assert msgs[0] == msgs[1]


def test_items_lists_what_roma_wrote(ws, small_graph, tmp_path):
    from roma_core.dynamics import Kuramoto, simulate
    from roma_core.renorm import geometric
    from roma_core.train import checkpoint as ckpt
    import torch

    (ws.root / "sims").mkdir()
    simulate(Kuramoto(), small_graph, 0.02, 0.01, 1, out=ws.root / "sims" / "one.zarr")
    small_graph.save(ws.root / "g.npz")
    geometric(small_graph, levels=2).save(ws.root / "h.npz")
    ckpt.save(ws.root / "runs" / "r1", torch.nn.Linear(1, 1), None, {"step": 1})
    (ws.root / "notes.npz").write_bytes(b"not a zip")        # not ROMA's: not listed
    (ws.root / ".hidden.zarr").mkdir()
    (ws.root / "deep" / "a" / "b" / "c" / "d").mkdir(parents=True)
    small_graph.save(ws.root / "deep" / "a" / "b" / "c" / "d" / "far.npz")  # deeper than searched
    got = {(it.kind, it.label) for it in ws.items() if not it.label.startswith("assets/")}
    assert got == {("trajectory", "sims/one.zarr"), ("graph", "g.npz"), ("hierarchy", "h.npz"),
                   ("run", "runs/r1")}
    shipped = {(it.kind, it.label) for it in ws.items() if it.label.startswith("assets/")}
    assert ("trajectory", "assets/kuramoto_2k.zarr") in shipped and ("run", "assets/roma_kuramoto_2k") in shipped
    assert ("scaling", "assets/scaling_kuramoto_2k/scaling.json") in shipped
    assert [it.kind for it in ws.items(["graph"])] == ["graph"]


def test_each_job_gets_its_own_folder(ws):
    a, b = ws.new_folder("trajectory"), ws.new_folder("trajectory")
    assert a != b and a.parent == b.parent == ws.root / "trajectory" and a.is_dir() and b.is_dir()
    assert ws.resolve(str(a), write=True) == a


def test_unwritable_workspace_is_reported(tmp_path):
    if os.geteuid() == 0:
        blocker = tmp_path / "file"
        blocker.write_text("x")
        target = blocker / "ws"           # a file in the way: mkdir fails even for root
    else:
        target = Path("/proc/roma-ws")
    with pytest.raises(AccessError, match="--workspace"):
        Workspace(target)
