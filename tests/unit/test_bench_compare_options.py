"""bench_models compare --roma: ROMA's spec options, checked against ModelSpec before any run."""
import pytest

from benchmarks.bench_models import roma_options


def test_roma_options_take_the_specs_types():
    assert roma_options("near_frame=node,near_field=0,phase_gauge=false,curvature=0.5") == \
        {"near_frame": "node", "near_field": 0, "phase_gauge": False, "curvature": 0.5}
    assert roma_options("") == {}


@pytest.mark.parametrize("text,message", [("depth=3", "key=value pairs of ModelSpec options"),
                                          ("near_field", "key=value pairs"),
                                          ("near_field=a", "near_field takes a int"),
                                          ("near_frame=sideways", "does not accept 'sideways'")])
def test_bad_roma_options_say_what_to_fix(text, message):
    with pytest.raises(ValueError, match=message):
        roma_options(text)
