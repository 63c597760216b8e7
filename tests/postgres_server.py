"""A throw-away PostgreSQL server for the team store's tests: Debian's ``postgresql`` binaries,
a fresh cluster in a temporary folder, a free port on 127.0.0.1, trust authentication.

PostgreSQL refuses to run as root, and the tests often run as root: then the server runs as
the ``postgres`` system user (``runuser``). ``PostgresUnavailable`` says why a server cannot
start, so the fixture can skip with that reason.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path


class PostgresUnavailable(Exception):
    """No PostgreSQL server can be started here; the message says why."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """``with PostgresServer() as server: server.new_database()`` → a URL of an empty database."""

    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not found:
            raise PostgresUnavailable("PostgreSQL is not installed (apt-get install -y postgresql; "
                                      "run_tests.sh installs it)")
        self.bin = Path(found[-1]).parent
        self.prefix: list[str] = []
        self.user = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres")
            except KeyError:
                raise PostgresUnavailable("running as root and there is no 'postgres' user to run the server as") \
                    from None
            self.prefix = ["runuser", "-u", "postgres", "--"]
        self.folder = Path(tempfile.mkdtemp(prefix="backstamp-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self.prefix, *args], capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            raise PostgresUnavailable(f"{Path(args[0]).name} failed: {(done.stderr or done.stdout)[-800:]}")

    def __enter__(self) -> "PostgresServer":
        if self.user is not None:
            os.chown(self.folder, self.user.pw_uid, self.user.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"), "-w",
                  "-o", f"-p {self.port} -k {self.folder} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        return self

    def __exit__(self, *_: object) -> None:
        subprocess.run([*self.prefix, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                        "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.folder, ignore_errors=True)

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def new_database(self) -> str:
        """Create an empty database; its URL (plain ``postgresql://``, as a team would pass it)."""
        import pg8000.native

        name = f"t_{uuid.uuid4().hex[:12]}"
        connection = pg8000.native.Connection("postgres", host="127.0.0.1", port=self.port)
        try:
            connection.run(f"CREATE DATABASE {name}")
        finally:
            connection.close()
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"
