"""Every `roma` command prints its help."""
import pytest


@pytest.mark.parametrize("command", ["train", "evaluate", "scaling", "compare", "simulate", "coarsen", "serve", "info"])
def test_every_command_prints_its_help(command, capsys):
    """Spec docs with a per-cent sign once broke argparse's help of every command taking them."""
    from roma_core.cli import main

    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    assert stop.value.code == 0 and "usage: roma" in capsys.readouterr().out
