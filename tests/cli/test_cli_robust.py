"""The command line under stress: Ctrl+C during a call that never checks for cancel, and errors
nobody foresaw (one line, the traceback in the log, exit 1)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from studio import cli

BLOCKING_PLUGIN = '''
import time
import numpy as np
from studio.core.nodetype import Float, Out, node

@node("blocking.wait", title="Wait", category="Test", inputs=[Float("seconds", 60.0, min=0, max=600)],
      outputs=[Out("image", "IMAGE")])
def wait(ctx, seconds):
    """Like a model load: a long call that never checks for cancel."""
    print("waiting", flush=True)
    time.sleep(seconds)
    return np.zeros((1, 8, 8, 3), np.float32)
'''


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_second_ctrl_c_quits_at_once_even_inside_a_long_call(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "blocking.py").write_text(BLOCKING_PLUGIN)
    flow = {"format": "latent-studio.workflow", "version": 1,
            "nodes": [{"id": "w", "type": "blocking.wait", "version": "1.0.0", "pos": [0, 0],
                       "params": {"seconds": 60.0}}], "links": []}
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    env = dict(os.environ, LATENT_STUDIO_HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "studio", "run", str(tmp_path / "flow.json")], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "waiting"
        proc.send_signal(signal.SIGINT)
        time.sleep(0.5)
        assert proc.poll() is None  # the first Ctrl+C asks the run to stop; the call goes on
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=20)  # far less than the 60 s the call would take
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read() if proc.stderr else ""
    assert code == 130, err
    assert "press Ctrl+C again" in err and "Traceback" not in err


def test_an_unforeseen_error_is_one_line_and_a_logged_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LATENT_STUDIO_HOME", str(tmp_path))

    def broken(args):
        raise RuntimeError("something nobody foresaw")

    monkeypatch.setattr(cli, "cmd_validate", broken)
    assert cli.main(["validate", "whatever.json"]) == cli.EXIT_NODE_FAILED
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: RuntimeError: something nobody foresaw" in err
    log = Path(tmp_path) / "logs" / "latent-studio.log"
    assert "Traceback" in log.read_text() and str(log) in err


CRASHING_PLUGIN = '''
import numpy as np
from studio.core.nodetype import Float, Out, node

@node("crashing.node", title="Crasher", category="Test", inputs=[Float("x", 1.0)], outputs=[Out("image", "IMAGE")])
def crash(ctx, x):
    return {}["a bug in a node pack"]
'''


def test_a_node_that_crashes_is_one_line_and_its_traceback_is_in_the_log(tmp_path):
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "crashing.py").write_text(CRASHING_PLUGIN)
    flow = {"format": "latent-studio.workflow", "version": 1,
            "nodes": [{"id": "c", "type": "crashing.node", "version": "1.0.0", "pos": [0, 0], "params": {}}],
            "links": []}
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    env = dict(os.environ, LATENT_STUDIO_HOME=str(tmp_path))
    res = subprocess.run([sys.executable, "-m", "studio", "run", str(tmp_path / "flow.json")], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 1
    assert "Traceback" not in res.stderr + res.stdout
    assert "Crasher: KeyError: 'a bug in a node pack'" in res.stderr
    log = (tmp_path / "logs" / "latent-studio.log").read_text()
    assert "Traceback" in log and "Crasher" in log
