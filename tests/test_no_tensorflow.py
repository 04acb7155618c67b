"""The core suite runs without TensorFlow and the library never imports it."""

import importlib.util
import subprocess
import sys


def test_tensorflow_not_installed_in_core_env() -> None:
    assert importlib.util.find_spec("tensorflow") is None


def test_library_import_loads_no_tensorflow() -> None:
    code = ("import sys, pysavedmodel, pysavedmodel.cli;"
            "bad = [m for m in sys.modules"
            " if m.split('.')[0] in ('tensorflow', 'tf_keras', 'keras')];"
            "assert not bad, bad; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_session_has_not_loaded_tensorflow() -> None:
    assert not [m for m in sys.modules if m.split(".")[0] == "tensorflow"]
