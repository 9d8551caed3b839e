#!/usr/bin/env python3
"""A throwaway PostgreSQL server for pipemend's tests, started the way
PostgreSQL's own test clusters are (src/test/perl/PostgreSQL/Test/Cluster.pm):
initdb into a fresh directory, a free loopback port, pg_ctl start, and a
stop that runs even when the tests fail.

    from pgserver import PgServer
    with PgServer() as pg:              # initdb + start; stop + rm at the end
        url = pg.url("postgres")        # postgresql://pipemend@127.0.0.1:PORT/postgres

For people (the server outlives the command; nothing is removed until stop):

    python3 tests/pg/pgserver.py start DIR   # prints the URL and PIPEMEND_DB=...
    python3 tests/pg/pgserver.py stop DIR    # stops it and removes DIR

Details a reader will want:
  - The binaries come from PM_PG_BINDIR, else `pg_config --bindir`, else the
    newest /usr/lib/postgresql/*/bin that has initdb; PostgreSQL 15 or newer.
  - initdb refuses to run as root. As root the server runs as the user
    `postgres` (Debian's postgresql package creates it) and the directory is
    chowned to it; without that user it fails and says so. As anyone else it
    runs as that user.
  - Authentication is `trust` for the superuser `pipemend`, on 127.0.0.1 only,
    and on a Unix socket in the server's own directory (mode 0700).
  - SIGTERM and SIGHUP become pgserver.Interrupted (a KeyboardInterrupt) in
    the program that started the server, so it unwinds and stops it as on
    Ctrl-C. A SIGKILL leaves the server running: nothing can clean up
    after that (delete DIR after `pg_ctl -D DIR/data stop`).
  - fsync=off: the data of a throwaway server need not survive a power cut,
    and it makes every commit of the tests cheap. Crash tests that kill
    pipemend still see PostgreSQL's real commit semantics: fsync only
    matters when the operating system itself goes down.
"""
import atexit
import glob
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

SUPERUSER = "pipemend"
MIN_MAJOR = 15
MARKER = "pgserver.json"  # what `stop DIR` looks for before it removes DIR


class PgServerError(Exception):
    pass


def find_bindir():
    """The directory of initdb/pg_ctl/postgres, newest PostgreSQL first."""
    cands = []
    if os.environ.get("PM_PG_BINDIR"):
        cands.append(os.environ["PM_PG_BINDIR"])
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10)
        if out.returncode == 0 and out.stdout.strip():
            cands.append(out.stdout.strip())
    except (OSError, subprocess.TimeoutExpired):
        pass

    def major(path):
        m = re.search(r"/postgresql/(\d+)/bin$", path)
        return int(m.group(1)) if m else 0

    cands += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=major, reverse=True)
    for d in cands:
        if all(os.access(os.path.join(d, b), os.X_OK) for b in ("initdb", "pg_ctl", "postgres")):
            return d
    raise PgServerError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in %s; "
                        "install them: apt-get install postgresql (or sh scripts/install-test-deps-pg.sh), "
                        "or point PM_PG_BINDIR at them" % (", ".join(cands) or "/usr/lib/postgresql/*/bin"))


def free_port():
    """A loopback TCP port nobody listens on right now. Another process may
    take it before the server binds it; start() retries on that."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


def server_user():
    """(name, uid, gid) to run the server as, or None for the current user."""
    if os.geteuid() != 0:
        return None
    try:
        pw = pwd.getpwnam("postgres")
    except KeyError:
        raise PgServerError("running as root, and initdb refuses to run as root; the server needs "
                            "an unprivileged user, and there is no user 'postgres' (Debian's "
                            "postgresql package creates it: apt-get install postgresql). Run the "
                            "tests as an ordinary user, or create 'postgres'.")
    return (pw.pw_name, pw.pw_uid, pw.pw_gid)


def _env():
    # Nothing of the caller's libpq/PostgreSQL environment (PGDATA, PGPORT,
    # PGOPTIONS, ...) may reach the server or its tools.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    env.pop("LANG", None)
    return env


class PgServer:
    """One PostgreSQL server in a directory of its own.

    directory=None makes a temporary one, removed by stop(). keep=True stops
    the server but leaves its directory (to look at the log or the data).
    managed=True (the default) registers stop() with atexit and turns SIGTERM
    and SIGHUP into an orderly exit, so the server does not outlive the
    tests; the CLI's `start` passes False."""

    def __init__(self, directory=None, keep=False, managed=True, quiet=True):
        self.bindir = find_bindir()
        self.user = server_user()
        self.keep = keep
        self.managed = managed
        self.quiet = quiet
        self.given_dir = directory
        self.dir = None
        self.port = None
        self.version = None
        self.running = False
        self._old_handlers = {}

    # ---- paths and URLs -------------------------------------------------

    @property
    def datadir(self):
        return os.path.join(self.dir, "data")

    @property
    def logfile(self):
        return os.path.join(self.dir, "server.log")

    @property
    def socketdir(self):
        return self.dir

    def url(self, dbname="postgres"):
        return "postgresql://%s@127.0.0.1:%d/%s" % (SUPERUSER, self.port, dbname)

    def bin(self, name):
        return os.path.join(self.bindir, name)

    # ---- running the server's programs ----------------------------------

    def _run(self, args, check=True, timeout=120, **kw):
        """Runs one of PostgreSQL's programs as the server's user."""
        opts = dict(cwd=self.dir, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                    text=True, timeout=timeout)
        if self.user:
            _, uid, gid = self.user
            opts.update(user=uid, group=gid, extra_groups=[])
        opts.update(kw)
        p = subprocess.run(args, **opts)
        if check and p.returncode != 0:
            raise PgServerError("%s failed (exit %d):\n%s%s" % (
                " ".join(args), p.returncode, p.stdout or "", self._log_tail()))
        return p

    def _log_tail(self, n=40):
        try:
            with open(self.logfile, errors="replace") as f:
                lines = f.readlines()[-n:]
            return "--- %s ---\n%s" % (self.logfile, "".join(lines)) if lines else ""
        except OSError:
            return ""

    # ---- lifecycle -------------------------------------------------------

    def start(self):
        out = subprocess.run([self.bin("postgres"), "--version"], capture_output=True, text=True)
        m = re.search(r"(\d+)(?:\.(\d+))?", out.stdout)
        if not m:
            raise PgServerError("cannot tell the version of %s: %r" % (self.bin("postgres"), out.stdout))
        self.version = m.group(0)
        if int(m.group(1)) < MIN_MAJOR:
            raise PgServerError("PostgreSQL %s in %s is too old: pipemend needs %d or newer"
                                % (self.version, self.bindir, MIN_MAJOR))
        if self.given_dir:
            d = os.path.abspath(self.given_dir)
            if os.path.exists(d) and os.listdir(d):
                raise PgServerError("%s is not empty: give a new or empty directory" % d)
            os.makedirs(d, mode=0o700, exist_ok=True)
            self.dir = d
        else:
            self.dir = tempfile.mkdtemp(prefix="pm-pg-")
        os.chmod(self.dir, 0o700)
        if self.managed:
            self._install_cleanup()
        if self.user:
            _, uid, gid = self.user
            os.chown(self.dir, uid, gid)
            probe = self._run(["test", "-w", self.dir, "-a", "-x", self.dir], check=False)
            if probe.returncode != 0:
                raise PgServerError("user %s cannot reach %s (a parent directory is closed to it); "
                                    "use a directory under /tmp" % (self.user[0], self.dir))
        self._run([self.bin("initdb"), "-D", self.datadir, "-A", "trust", "-U", SUPERUSER,
                   "--no-sync", "-E", "UTF8", "--locale=C", "--no-instructions"])
        for attempt in range(5):
            self.port = free_port()
            opts = self._options()
            p = self._run([self.bin("pg_ctl"), "-D", self.datadir, "-l", self.logfile, "-w",
                           "-t", "60", "-o", opts, "start"], check=False)
            if p.returncode == 0:
                break
            tail = self._log_tail()
            if "could not bind" in tail or "already in use" in tail:
                continue  # someone took the port between free_port() and the bind
            raise PgServerError("pg_ctl start failed (exit %d):\n%s%s"
                                % (p.returncode, p.stdout, tail))
        else:
            raise PgServerError("no free port after 5 tries:\n%s" % self._log_tail())
        self.running = True
        self._wait_ready()
        with open(os.path.join(self.dir, MARKER), "w") as f:
            json.dump({"port": self.port, "bindir": self.bindir, "version": self.version,
                       "user": self.user[0] if self.user else None, "url": self.url()}, f)
        if not self.quiet:
            sys.stderr.write("pgserver: PostgreSQL %s at %s (directory %s)\n"
                             % (self.version, self.url(), self.dir))
        return self

    def _options(self):
        return "-p %d -c listen_addresses=127.0.0.1 -k %s -c fsync=off" % (self.port, self.socketdir)

    def restart(self, mode="fast"):
        """pg_ctl restart -m MODE on the same port, as an administrator would:
        fast ends every session and stops cleanly, immediate stops without
        a clean shutdown (crash recovery at start). Returns once the server
        accepts connections again."""
        self._run([self.bin("pg_ctl"), "-D", self.datadir, "-l", self.logfile, "-w", "-t", "60",
                   "-m", mode, "-o", self._options(), "restart"])
        self._wait_ready()

    def standby(self):
        """A second server in a directory of its own, streaming from this one
        (pg_basebackup -R: a hot standby that accepts reads, not writes),
        started on a free port and stopped by its own stop(). promote()
        makes it the primary, as a failover would."""
        sb = PgServer(keep=self.keep, managed=self.managed, quiet=self.quiet)
        sb.version = self.version
        sb.dir = tempfile.mkdtemp(prefix="pm-pg-standby-")
        os.chmod(sb.dir, 0o700)
        if sb.managed:
            sb._install_cleanup()
        if sb.user:
            os.chown(sb.dir, sb.user[1], sb.user[2])
        sb._run([self.bin("pg_basebackup"), "-D", sb.datadir, "-R", "-X", "stream", "-c", "fast",
                 "-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER])
        sb.port = free_port()
        sb._run([sb.bin("pg_ctl"), "-D", sb.datadir, "-l", sb.logfile, "-w", "-t", "60",
                 "-o", sb._options(), "start"])
        sb.running = True
        sb._wait_ready()
        return sb

    def promote(self):
        """pg_ctl promote: a standby becomes a primary that accepts writes."""
        self._run([self.bin("pg_ctl"), "-D", self.datadir, "-w", "-t", "60", "promote"])

    def _wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while True:
            p = subprocess.run([self.bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port),
                                "-U", SUPERUSER, "-d", "postgres"], env=_env(), cwd="/")
            if p.returncode == 0:
                return
            if time.time() > deadline:
                raise PgServerError("the server at port %d does not accept connections after %d s:\n%s"
                                    % (self.port, timeout, self._log_tail()))
            time.sleep(0.1)

    def stop(self):
        """Stops the server (fast, then immediate, then SIGKILL) and removes
        its directory unless keep. Safe to call twice."""
        if self.dir is None:
            return
        try:
            if self.running and os.path.exists(os.path.join(self.datadir, "postmaster.pid")):
                for mode in ("fast", "immediate"):
                    p = self._run([self.bin("pg_ctl"), "-D", self.datadir, "-m", mode, "-w",
                                   "-t", "30", "stop"], check=False, timeout=60)
                    if p.returncode == 0:
                        break
                else:
                    self._kill_postmaster()
            self.running = False
        finally:
            if not self.keep:
                shutil.rmtree(self.dir, ignore_errors=True)
            elif not self.quiet:
                sys.stderr.write("pgserver: kept %s (start it again with: %s -D %s -l %s start)\n"
                                 % (self.dir, self.bin("pg_ctl"), self.datadir, self.logfile))
            self.dir = None
            self._restore_handlers()

    def _kill_postmaster(self):
        try:
            with open(os.path.join(self.datadir, "postmaster.pid")) as f:
                pid = int(f.readline())
            os.kill(pid, signal.SIGKILL)
        except (OSError, ValueError):
            pass

    def psql(self, sql, dbname="postgres"):
        """Runs sql with psql; returns its output (unaligned, tuples only)."""
        p = subprocess.run([self.bin("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                            "-d", self.url(dbname), "-c", sql], env=_env(), cwd="/",
                           capture_output=True, text=True, timeout=120)
        if p.returncode != 0:
            raise PgServerError("psql: %s" % p.stderr.strip())
        return p.stdout

    # ---- stopping however the tests end ------------------------------------

    def _install_cleanup(self):
        atexit.register(self.stop)
        if threading_main():
            for sig in (signal.SIGTERM, signal.SIGHUP):
                if signal.getsignal(sig) in (signal.SIG_DFL, None):
                    self._old_handlers[sig] = signal.signal(sig, _exit_on_signal)

    def _restore_handlers(self):
        for sig, h in self._old_handlers.items():
            try:
                signal.signal(sig, h)
            except (ValueError, TypeError):
                pass
        self._old_handlers = {}

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def threading_main():
    import threading
    return threading.current_thread() is threading.main_thread()


class Interrupted(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program was. A KeyboardInterrupt
    because unittest lets those through (it would count a SystemExit as one
    more test error and go on), so with-blocks unwind, atexit runs, and the
    server stops."""

    def __init__(self, signum):
        super().__init__("signal %d" % signum)
        self.signum = signum


def _exit_on_signal(signum, frame):
    raise Interrupted(signum)


# ---- command line ----------------------------------------------------------


def _cli_start(d):
    s = PgServer(directory=d, keep=True, managed=False)
    try:
        s.start()
    except BaseException:
        s.keep = True  # what went wrong is in DIR (server.log); the user removes it
        s.stop()
        raise
    print("PostgreSQL %s running in %s (log: %s)" % (s.version, s.dir, s.logfile))
    print("PIPEMEND_DB=%s" % s.url("postgres"))
    print("stop it with: python3 %s stop %s" % (sys.argv[0], d))
    return 0


def _cli_stop(d):
    d = os.path.abspath(d)
    marker = os.path.join(d, MARKER)
    if not os.path.exists(marker):
        sys.stderr.write("pgserver: %s has no %s: not a server this script started; "
                         "nothing done\n" % (d, MARKER))
        return 1
    with open(marker) as f:
        info = json.load(f)
    s = PgServer.__new__(PgServer)
    s.bindir, s.dir, s.port, s.keep, s.quiet = info["bindir"], d, info["port"], False, True
    s.user = server_user() if info.get("user") else None
    s.running, s._old_handlers = True, {}
    s.stop()
    print("stopped the server in %s and removed it" % d)
    return 0


def main(argv):
    if len(argv) != 3 or argv[1] not in ("start", "stop"):
        sys.stderr.write("usage: %s start|stop DIR\n" % argv[0])
        return 2
    try:
        return (_cli_start if argv[1] == "start" else _cli_stop)(argv[2])
    except PgServerError as e:
        sys.stderr.write("pgserver: %s\n" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
