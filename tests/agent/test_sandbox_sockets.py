"""Socket families in the jail: what the seccomp filter allows, what it refuses, and the loopback.

The calls are made from the preamble, which runs before the audit hook (like code that switched it
off), so what answers is the kernel: EAFNOSUPPORT from the filter for every family but AF_UNIX,
AF_INET and AF_INET6 (a kernel without vsock would answer the same for AF_VSOCK, so that check needs
the host to have it). docs/sandbox.md says the jail's own loopback is up and
leads nowhere but the jail: a listener inside is reachable from inside, none outside is (that half is
test_sandbox_escapes.test_no_network_reaches_the_host).
"""

from __future__ import annotations

import socket
import sys

import pytest

from hrm_agent.sandbox.execute import SandboxLimits, isolation, run_code

pytestmark = pytest.mark.skipif(not (sys.platform.startswith("linux") and isolation().strong),
                                reason=f"no OS sandbox here: {isolation().detail}")

LIMITS = SandboxLimits(cpu_s=5, wall_s=15, memory_mb=256, disk_mb=16)
FAMILIES = {"vsock": (40, 1), "packet": (17, 3), "netlink": (16, 3),  # (family, SOCK_STREAM 1 or SOCK_RAW 3)
            "unix": (1, 1), "inet": (2, 1), "inet6": (10, 1)}
PROBE = f"""
import errno, socket
_out = {{}}
for _name, (_fam, _typ) in {FAMILIES!r}.items():
    try:
        socket.socket(_fam, _typ).close()
        _out[_name] = "created"
    except OSError as exc:
        _out[_name] = errno.errorcode.get(exc.errno, str(exc.errno))
_a, _b = socket.socketpair()
_a.sendall(b"pair")
_out["socketpair"] = _b.recv(4).decode()
try:
    socket.socketpair(40, socket.SOCK_STREAM)
    _out["socketpair_vsock"] = "created"
except OSError as exc:
    _out["socketpair_vsock"] = errno.errorcode.get(exc.errno, str(exc.errno))
_srv = socket.socket()
_srv.bind(("127.0.0.1", 0))
_srv.listen(1)
_c = socket.create_connection(_srv.getsockname(), timeout=2)
_conn = _srv.accept()[0]
_c.sendall(b"lo")
_out["loopback"] = _conn.recv(2).decode()
_out["addrconfig"] = len(socket.getaddrinfo("127.0.0.1", 80, flags=socket.AI_ADDRCONFIG))  # glibc opens netlink
SOCKETS = _out
"""


def test_only_unix_and_inet_families_can_be_created():
    res = run_code("RESULT = SOCKETS", preamble=PROBE, limits=LIMITS)
    assert res.exit_reason == "ok", (res.exit_reason, res.error, res.stderr[-1000:])
    out = res.result
    try:
        socket.socket(40, socket.SOCK_STREAM).close()
        refused = ["vsock", "packet", "netlink"]
    except OSError:
        refused = ["packet", "netlink"]  # no vsock on this host: the kernel would refuse it anyway
    for name in refused:
        assert out[name] == "EAFNOSUPPORT", (name, out)
    assert out["unix"] == out["inet"] == out["inet6"] == "created", out
    assert out["socketpair"] == "pair" and out["socketpair_vsock"] == "EAFNOSUPPORT", out
    assert out["addrconfig"] >= 1  # glibc copes with its refused netlink socket


def test_the_jails_loopback_is_up_and_its_own():
    res = run_code("RESULT = SOCKETS['loopback']", preamble=PROBE, limits=LIMITS)
    assert res.result == "lo", (res.exit_reason, res.error, res.stderr[-1000:])
