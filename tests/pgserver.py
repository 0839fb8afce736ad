"""A throwaway PostgreSQL server for tests: Debian's initdb + pg_ctl in a temporary folder, run as the
`postgres` user when the tests run as root (PostgreSQL refuses root), listening on a free loopback port
with password (SCRAM) authentication. Nothing is downloaded; without the binaries the caller skips."""
from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from appserver import free_port

INSTALL_HINT = "apt-get install -y postgresql"


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps initdb off PATH), or None."""
    found = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if found:
        return Path(max(found, key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    root: Path
    _ctl: list[str] = field(default_factory=list, repr=False)  # pg_ctl -D data, as the server's user
    _options: str = ""

    def stop(self) -> None:
        subprocess.run([*self._ctl, "-m", "fast", "-w", "stop"], cwd=self.root, capture_output=True, timeout=60,
                       check=True)

    def start(self) -> None:
        proc = subprocess.run([*self._ctl, "-l", str(self.root / "server.log"), "-w", "-t", "60", "-o", self._options,
                               "start"], cwd=self.root, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            log = self.root / "server.log"
            raise RuntimeError(f"pg_ctl start failed: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
                               f"{log.read_text()[-2000:] if log.exists() else ''}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh, empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as db:
            db.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def query(self, url: str, sql: str, args: tuple = ()) -> list[tuple]:
        """Rows of one query on its own connection (what the database holds, not what the Store says)."""
        import psycopg

        with psycopg.connect(url) as db:
            return [tuple(r) for r in db.execute(sql, args or None).fetchall()]


@contextmanager
def postgres_server():
    """Yield a running PostgresServer; stop it and delete its files afterwards."""
    bindir = bin_dir()
    if bindir is None:
        raise FileNotFoundError(f"PostgreSQL is not installed ({INSTALL_HINT}).")
    root = Path(tempfile.mkdtemp(prefix="assistant-pg-"))
    run_as: list[str] = []
    if os.geteuid() == 0:
        run_as = ["runuser", "-u", "postgres", "--"]
        shutil.chown(root, "postgres", "postgres")
    password = secrets.token_urlsafe(18)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n")
    if run_as:
        shutil.chown(pwfile, "postgres", "postgres")
    data, log = root / "data", root / "server.log"
    port = free_port()

    def run(*args: str) -> None:
        proc = subprocess.run([*run_as, *args], cwd=root, capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise RuntimeError(f"{Path(args[0]).name} failed ({proc.returncode}): {proc.stdout[-2000:]}"
                               f"{proc.stderr[-2000:]}\n{tail}")

    ctl = [*run_as, str(bindir / "pg_ctl"), "-D", str(data)]
    # Durability off: a test cluster is thrown away, and fsyncs would dominate the test's time.
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    server = PostgresServer("127.0.0.1", port, "assistant", password, root, ctl, options)
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "assistant", f"--pwfile={pwfile}",
            "--auth=scram-sha-256", "-E", "UTF8", "--locale=C")
        server.start()
        yield server
    finally:
        subprocess.run([*ctl, "-m", "immediate", "-w", "stop"], cwd=root, capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
