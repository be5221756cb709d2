"""``roma serve``: its options map onto ``panel serve``; login and proxy prefix work."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from roma_core.cli import build_parser, main
from roma_core.cli.serve import APP, panel_argv


def args(*argv):
    return build_parser().parse_args(["serve", *argv])


def panel_options(*argv):
    """``roma serve`` arguments as panel's own parser reads what ``panel_argv`` makes of them."""
    import argparse

    from panel.command.serve import Serve

    parser = argparse.ArgumentParser(prog="panel serve")
    Serve(parser=parser)
    made = panel_argv(args(*argv))
    return made, parser.parse_args(made)


def test_defaults_bind_localhost():
    made, ns = panel_options()
    assert made[0] == str(APP) and APP.is_file() and ns.files == [str(APP)]
    assert ns.address == "127.0.0.1" and ns.port == 5006
    assert ns.basic_auth is None and not ns.show and "--warm" in made
    assert "--warm" not in panel_argv(args("--no-warm"))


def test_options_pass_through():
    made, ns = panel_options("--address", "0.0.0.0", "--port", "8000", "--allow-websocket-origin", "a.org",
                             "--allow-websocket-origin", "b.org:443", "--num-procs", "2", "--num-threads", "4",
                             "--basic-auth", "s3cret", "--prefix", "/roma", "--use-xheaders", "--show")
    assert ns.address == "0.0.0.0" and ns.port == 8000 and ns.num_procs == 2 and ns.num_threads == 4
    assert ns.allow_websocket_origin == ["a.org", "b.org:443"]
    assert ns.basic_auth == "s3cret" and len(ns.cookie_secret) >= 32  # generated: login needs a signed cookie
    assert ns.prefix == "/roma" and ns.use_xheaders and ns.show
    fresh = {panel_options("--basic-auth", "pw")[1].cookie_secret for _ in range(20)}
    assert len(fresh) == 20


def test_values_starting_with_a_dash_stay_values():
    """A password or secret may start with '-': panel's parser must not take it for an option."""
    _, ns = panel_options("--basic-auth=-pw", "--cookie-secret=-c0okie")
    assert ns.basic_auth == "-pw" and ns.cookie_secret == "-c0okie"
    _, ns = panel_options("--address", "0.0.0.0", "--oauth-provider", "github", "--oauth-key=-id",
                          "--oauth-secret=--s3cret", "--oauth-redirect-uri", "https://a.org/roma")
    assert (ns.oauth_provider, ns.oauth_key, ns.oauth_secret) == ("github", "-id", "--s3cret")
    assert ns.oauth_redirect_uri == "https://a.org/roma"


@pytest.mark.parametrize("bad", [["--port", "70000"], ["--num-procs", "-1"], ["--num-threads", "0"],
                                 ["--basic-auth", "/nonexistent/users.json"]])
def test_bad_options_exit_2(bad, capsys):
    assert main(["serve", *bad]) == 2
    assert "roma serve: error:" in capsys.readouterr().err


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    out = capsys.readouterr().out
    for flag in ("--address", "--port", "--allow-websocket-origin", "--num-procs", "--num-threads",
                 "--basic-auth", "--prefix", "--use-xheaders", "--show", "--no-warm", "127.0.0.1",
                 "--workspace", "--workers", "--max-nodes", "--max-steps", "--max-memory", "--allow-unauthenticated",
                 "--oauth-provider", "--oauth-key", "--oauth-secret", "--oauth-redirect-uri"):
        assert flag in out


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k):
        return None


def test_login_and_prefix_on_a_real_server(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(tmp_path / "serve.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--port", str(port),
                             "--basic-auth", "s3cret", "--prefix", "/roma", "--no-warm",
                             "--workspace", str(tmp_path / "ws")], stdout=log, stderr=subprocess.STDOUT)
    opener = urllib.request.build_opener(NoRedirect)
    try:
        deadline = time.monotonic() + 300  # the app is warmed up before the server answers
        while True:
            try:
                opener.open(f"http://127.0.0.1:{port}/roma/main", timeout=10)
                status, location = 200, ""
                break
            except urllib.error.HTTPError as exc:  # the redirect to the login page
                status, location = exc.code, exc.headers.get("Location", "")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
                time.sleep(0.3)
        target = urllib.parse.urljoin(f"http://127.0.0.1:{port}/roma/main", location)
        assert status == 302 and urllib.parse.urlparse(target).path == "/roma/login", (status, location)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/roma/login", timeout=10) as r:
            assert b"password" in r.read().lower()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.7", "::", "example.org"])
def test_public_address_without_login_refuses_to_start(address, capsys):
    assert main(["serve", "--address", address, "--no-warm"]) == 2  # returns before any server starts
    err = capsys.readouterr().err
    assert address in err and "--basic-auth" in err and "--allow-unauthenticated" in err
    for ok in (["--basic-auth", "pw"], ["--oauth-provider", "github", "--oauth-key", "id", "--oauth-secret", "s"],
               ["--allow-unauthenticated"]):
        assert panel_options("--address", address, *ok)[1].address == address
    _, ns = panel_options("--address", address, "--oauth-provider", "github", "--oauth-key", "id")
    assert (ns.oauth_provider, ns.oauth_key) == ("github", "id") and len(ns.cookie_secret) >= 32


@pytest.mark.parametrize("address", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_login(address):
    _, ns = panel_options("--address", address)
    assert ns.basic_auth is None and ns.oauth_provider is None


def test_workers_and_limits_reach_the_app_environment():
    from roma_core.cli.serve import app_environment

    env = app_environment(args("--workers", "3", "--max-nodes", "5000", "--max-steps", "100",
                               "--max-memory", "2G"))
    assert env == {"ROMA_APP_JOB_WORKERS": "3", "ROMA_APP_MAX_NODES": "5000", "ROMA_APP_MAX_STEPS": "100",
                   "ROMA_APP_MAX_MEMORY": str(2 * 2**30)}
    assert app_environment(args()) == {}


@pytest.mark.parametrize("bad, said", [(["--workers", "0"], "--workers must be at least 1"),
                                       (["--max-nodes", "-5"], "--max-nodes must be at least 1"),
                                       (["--max-memory", "lots"], "not a memory size")])
def test_bad_limits_exit_2(bad, said, capsys, tmp_path):
    assert main(["serve", *bad, "--workspace", str(tmp_path / "ws")]) == 2
    assert said in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the workers follow their server on Linux only")
def test_workers_stop_with_the_server(tmp_path):
    """With --num-procs 2, SIGTERM to the server's own process id stops its forked workers
    too: the port stops answering and no process of the server's group is left."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "roma_core.cli", "serve", "--port", str(port), "--num-procs", "2",
                             "--no-warm", "--workspace", str(tmp_path / "ws")], stdout=open(tmp_path / "serve.log", "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}/static/extensions/panel/css/loading.css"

    def answers():
        try:
            with urllib.request.urlopen(url, timeout=10) as r:
                return r.status == 200
        except OSError:
            return False

    try:
        deadline = time.monotonic() + 300
        while not answers():
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.3)
        assert len(process_group(proc.pid)) == 3                 # the server and its two workers
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 30
        while (answers() or process_group(proc.pid)) and time.monotonic() < deadline:
            time.sleep(0.3)
        assert not answers() and not process_group(proc.pid), "a worker outlived its server"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def process_group(pgid):
    """The live (not zombie) processes of a process group, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[2]) == pgid:
                found.append(int(entry))
    return found
