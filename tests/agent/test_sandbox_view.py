"""The jail shows only the installation, however hrm was started.

`sandbox/launch.py` once bound every absolute sys.path entry, so a PYTHONPATH folder or the folder
`python -m` ran from (with an ssh key or a .env in it) was readable by model code. Here the attacker's
code switches the audit hook off and reads with `cat`, so only the kernel's view stands between it and
the files; the secrets are 0644 (as root the jail runs as nobody, who could read them if they were
there). A positive control shows the same attack does read a path the caller allowed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
from test_sandbox_escapes import UNHOOKED

from hrm_agent.sandbox.execute import SandboxLimits, isolation, run_code

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and isolation().strong),
                                reason=f"no OS sandbox here: {isolation().detail}")

HRM = str(Path(sys.executable).with_name("hrm"))
LIMITS = SandboxLimits(cpu_s=5, wall_s=15, memory_mb=256, disk_mb=16)


def _secret_folder(name: str, files: dict[str, str]) -> Path:
    """A host folder outside /tmp (the jail's /tmp is its own) holding world-readable secret files."""
    base = "/var/tmp" if os.path.isdir("/var/tmp") else None
    folder = Path(tempfile.mkdtemp(prefix=f"hrm-{name}-", dir=base))
    folder.chmod(0o755)
    for file, text in files.items():
        (folder / file).write_text(text)
        (folder / file).chmod(0o644)
    return folder


@pytest.fixture
def secrets():
    """(PYTHONPATH folder, working folder, allowed folder, {path: secret text})."""
    token = uuid.uuid4().hex
    pp = _secret_folder("pythonpath", {"id_rsa": f"PRIVATE-KEY-{token}", "helper.py": "X = 1\n"})
    cwd = _secret_folder("cwd", {".env": f"API_KEY=sk-cwd-{token}"})
    allowed = _secret_folder("allowed", {"data.txt": f"allowed-{token}"})
    yield pp, cwd, allowed, {str(pp / "id_rsa"): f"PRIVATE-KEY-{token}", str(cwd / ".env"): f"sk-cwd-{token}"}
    for folder in (pp, cwd, allowed):
        shutil.rmtree(folder, ignore_errors=True)


def _reader(paths: list[str]) -> str:
    """Model code: read each path with cat and list its folder, the hook switched off."""
    return UNHOOKED + f"""
import os, json
RESULT = {{p: sh("cat " + p + "; ls -a " + os.path.dirname(p)) for p in {paths!r}}}
"""


DRIVER = """
import json, sys
from hrm_agent.sandbox.execute import SandboxLimits, run_code
paths, allowed = json.loads(sys.argv[1])
res = run_code(sys.stdin.read(), limits=SandboxLimits(cpu_s=5, wall_s=15, memory_mb=256, disk_mb=16),
               preamble="import sys as _s\\nSYS_PATH = list(_s.path)\\n", allowed_read_paths=[allowed])
print(json.dumps({"exit_reason": res.exit_reason, "error": res.error, "result": res.result,
                  "sys_path": res.variables.get("SYS_PATH")}))
"""


@pytest.mark.parametrize("started", ["script", "module"])
def test_pythonpath_and_working_folders_are_not_in_the_jail(started, secrets):
    pp, cwd, allowed, secret = secrets
    (cwd / "driver.py").write_text(DRIVER)
    argv = [sys.executable, str(cwd / "driver.py")] if started == "script" else [sys.executable, "-m", "driver"]
    paths = [*secret, str(allowed / "data.txt")]
    env = {**os.environ, "PYTHONPATH": str(pp)}
    proc = subprocess.run([*argv, json.dumps([paths, str(allowed)])], input=_reader(paths), capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    res = json.loads(proc.stdout)
    assert res["exit_reason"] == "ok", res
    blob = json.dumps(res)
    for path, text in secret.items():
        assert text not in blob, f"{path} was readable in the jail"
        assert "No such file or directory" in res["result"][path]["err"], res["result"][path]
    assert "allowed-" in res["result"][str(allowed / "data.txt")]["out"]  # the attack does read what it sees
    assert res["sys_path"] and not any(p in (str(pp), str(cwd), "") for p in res["sys_path"]), res["sys_path"]


def test_an_editable_checkout_shows_only_its_package_folders():
    spec = importlib.util.find_spec("hrm_agent")
    package = Path(spec.submodule_search_locations[0])
    repo = package.parent
    if not (repo / "pyproject.toml").exists():
        pytest.skip("hrm is not an editable install from a checkout here")
    res = run_code(UNHOOKED + f"""
RESULT = {{"ls": sh("ls -a {repo}"), "git": sh("cat {repo}/.git/HEAD {repo}/.git/config"),
           "pyproject": sh("cat {repo}/pyproject.toml"), "agent": sh("ls {package}/sandbox")}}
""", limits=LIMITS)
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr[-1000:])
    shown = set(res.result["ls"]["out"].split()) - {".", ".."}
    assert shown <= {"agent", "engine", "datasets", "configs", ".venv", "venv"}, shown
    assert res.result["git"]["out"] == "" and res.result["pyproject"]["out"] == ""
    assert "child.py" in res.result["agent"]["out"].split()  # the package folder itself is there


def test_through_agent_run_started_with_python_m_from_a_folder(fake_llm, secrets, tmp_path):
    pp, cwd, allowed, secret = secrets
    fake_llm.script([], default="```python\n" + _reader(list(secret)) + "\n```")
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(pp), "NO_COLOR": "1"}
    proc = subprocess.run([sys.executable, "-m", "hrm_cli.main", "agent", "run",
                           "What is 2 + 2? Return exactly: 'Answer: <n>'", "--controller", "flat", "--backend",
                           "openai", "--base-url", fake_llm.url, "--model", "fake-model", "--run-id", "reader",
                           "--timeout", "60", f"runs_dir={runs}", "budget.max_rounds=1",
                           "budget.max_tokens_per_call=2000", "budget.max_model_tokens=20000"],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr[-2000:]
    trace = (runs / "reader" / "trace.jsonl").read_text()
    execs = [json.loads(line) for line in trace.splitlines() if '"exec"' in line]
    execs = [e for e in execs if e.get("event") == "exec"]
    assert execs and execs[0]["exit_reason"] == "ok", execs
    for path, text in secret.items():
        assert text not in trace + proc.stdout + proc.stderr, f"{path} was readable in the jail"
        assert "No such file or directory" in execs[0]["result"][path]["err"]
