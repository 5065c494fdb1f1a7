"""Installed import names never shadow other packages, and the layers never import the CLI."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import textwrap

from hrm_paths import REPO

FAKE_HF = textwrap.dedent(
    '''
    """Stand-in for Hugging Face `datasets` installed in site-packages."""
    IS_HUGGING_FACE = True
    def load_dataset(*args, **kwargs):
        return "hf"
    '''
)


def test_installed_top_level_names_are_prefixed(tmp_path):
    """Outside the repo, only hrm_* names resolve to our code; `engine`, `agent`... are not ours."""
    code = textwrap.dedent(
        f"""
        import importlib.util, json
        out = {{}}
        for name in ("datasets", "engine", "agent", "configs", "hrm_datasets", "hrm_engine", "hrm_agent", "hrm_cli"):
            spec = importlib.util.find_spec(name)
            locs = list(spec.submodule_search_locations or []) if spec else []
            out[name] = any(str(l).startswith({str(REPO)!r}) for l in locs)
        print(json.dumps(out))
        """
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    ours = __import__("json").loads(res.stdout)
    assert not any(ours[n] for n in ("datasets", "engine", "agent", "configs")), ours
    assert all(ours[n] for n in ("hrm_datasets", "hrm_engine", "hrm_agent", "hrm_cli")), ours


def test_hugging_face_datasets_still_imports_beside_hrm(tmp_path, run_hrm):
    """A package named `datasets` on sys.path wins over our datasets/ folder, even from the repo root."""
    site = tmp_path / "site"
    (site / "datasets").mkdir(parents=True)
    (site / "datasets" / "__init__.py").write_text(FAKE_HF)
    env = {**os.environ, "PYTHONPATH": str(site)}
    code = "import datasets, hrm_datasets.format; assert datasets.IS_HUGGING_FACE; print(datasets.load_dataset())"
    for cwd in (REPO, tmp_path):  # the repo root puts our datasets/ folder first on sys.path
        out = subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert out.stdout.strip() == "hf"
    # and hrm itself keeps working in that environment
    res = run_hrm("config", "show", "hrm-tiny", cwd=REPO, env={"PYTHONPATH": str(site)})
    assert res.returncode == 0, res.stderr


def test_layers_never_import_the_cli():
    offenders = []
    for folder in ("engine", "agent", "datasets"):
        for path in (REPO / folder).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                names = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] == "hrm_cli"]
    assert not offenders, offenders


def test_wheelhouse_script_rejects_bad_arguments_before_downloading(tmp_path):
    """tools/wheelhouse.sh: usage errors exit 2 with one line (the download itself needs PyPI: docs/gpu.md)."""
    script = str(REPO / "tools" / "wheelhouse.sh")
    run = lambda *a: subprocess.run(["bash", script, *a], capture_output=True, text=True, timeout=60)  # noqa: E731
    bare = run()
    assert bare.returncode == 2 and "usage: tools/wheelhouse.sh DIR" in bare.stderr
    bad = run(str(tmp_path / "wh"), "--backend", "rocm")
    assert bad.returncode == 2 and bad.stderr.strip() == "error: --backend must be cpu, cuda12 or cuda13, not rocm"
    unknown = run(str(tmp_path / "wh"), "--cuda", "13")
    assert unknown.returncode == 2 and "unknown option --cuda" in unknown.stderr
    assert not (tmp_path / "wh").exists()
