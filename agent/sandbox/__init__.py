"""The sandbox model-written code runs in: the kernel is the boundary, this package sets it up and reads the verdict.

    execute.py   run_code and SandboxLimits: one contained run, its verdict from what the OS reports
    launch.py    which isolation this machine gives, and the child's command line (bubblewrap, fallbacks)
    seccomp.py   the seccomp filter bubblewrap loads
    cgroup.py    memory and process limits for the whole tree, where a cgroup can be made
    modes.py     the modes, named by what they guarantee
    child.py     the child's entry point (`python -m hrm_agent.sandbox.child`), standard library only
    hrm_tool.py  `hrm_solve(grid)` for code in the sandbox, on a trained HRM
    startup.py   the start-up cost of one run per mode (`hrm bench sandbox`)

Empty on purpose: `python -m hrm_agent.sandbox.child` imports this package first, and the child must
import nothing of hrm.
"""
