#!/usr/bin/env python3
"""bench/quarantine_layout.py BINARY [ROWS] [--backend sqlite|pg|both] - what
the database alone needs to store and to take out ROWS quarantined rows, as
the catalog holds them today (one row each) and as segments (one row per
1000 quarantined rows, their bytes concatenated), beside pipemend's own
load and quarantine of the same rows: the floors behind the targets of
issue 12 (a quarantine storm on PostgreSQL at >= 0.5x the load rate) and
issue 17 (a replay at >= 0.5x the ingest rate), and what a change of layout
would move them to. An experiment on the layout, not a measure of pipemend:
pipemend itself stores the first layout only.

    python3 bench/quarantine_layout.py build/release/pipemend            # 200,000 rows, both
    python3 bench/quarantine_layout.py build/release/pipemend 100000 --backend sqlite

The rows are bench/replay.py's (order events whose day-2 rows bring a new
field under --policy review: every one quarantined). Per backend:
  load        pipemend ingests the same rows into a table that has the new
              column (the rate every other figure is set beside);
  quarantine  pipemend ingests them under review: all quarantined;
  layouts     the rows pipemend stored, read back (untimed), written again
              into empty tables in one transaction, then taken out a page
              of 1000 rows per transaction (each page's bytes read, then
              deleted), as a replay does:
    rows      the catalog's own table (its columns and indexes), filled by
              SQL from the stored rows (SQLite: INSERT ... SELECT;
              PostgreSQL: a binary COPY of them with psql);
    segments  (table, run, first id, rows, bytes): per row its offset,
              line, raw bytes and findings, the message once per segment;
    segments compressed  the same bytes compressed: PostgreSQL's lz4
              column compression; on SQLite zlib level 1 in this script
              (a stand-in for a codec such as zstd), its time included in
              the write and its decompression in the take-out.
Printed per layout: write and take-out times; the write rate as a fraction
of the load rate (the best a quarantine storm could do with that layout);
and load / (load + take-out), the best a replay could do if its load cost
what the ingest costs.

PostgreSQL is a throwaway server from tests/pg/pgserver.py (as bench/replay.py
starts it); its times are psql's \\timing of each statement (the take-out:
the whole script's wall time, one psql). SQLite uses pipemend's pragmas
(WAL, synchronous=NORMAL, 16 KiB pages, a 16 MiB cache). A benchmark, not a
test: exit 0, 1 when a check fails (every layout must hold and then give
back all ROWS rows)."""
import os
import re
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replay  # noqa: E402  (its rows, its warehouses, its timing)

SEG = 1000


def segments(rows):
    """rows: (id, run_id, table_name, source, byte_offset, line, raw, kinds,
    message, findings) in id order -> [(first id, table, run, nrows, bytes)]."""
    out = []
    for k in range(0, len(rows), SEG):
        part = rows[k:k + SEG]
        msgs, body = {}, []
        for r in part:
            m = msgs.setdefault(r[8], len(msgs))
            raw, fnd = bytes(r[6]), r[9].encode()
            body.append(struct.pack(">qqII", r[4], r[5], m, len(raw)) + raw +
                        struct.pack(">I", len(fnd)) + fnd)
        head = b"".join(struct.pack(">I", len(m.encode())) + m.encode() for m in msgs)
        out.append((part[0][0], part[0][2], part[0][1], len(part),
                    struct.pack(">I", len(msgs)) + head + b"".join(body)))
    return out


def report(name, n, t_load, t_quar, layouts):
    print("%s, %d quarantined rows:" % (name, n))
    print("  pipemend load (no drift)        %6.2f s" % t_load)
    print("  pipemend quarantine (review)    %6.2f s   quarantine / load rate %.2fx" %
          (t_quar, t_load / t_quar))
    print("  %-24s %9s %10s %17s %12s %20s" % ("layout", "size", "write", "write / load rate",
                                               "take out", "best replay / ingest"))
    for lname, size, tw, tt in layouts:
        print("  %-24s %6.1f MB %8.2f s %16.2fx %10.2f s %19.2fx" %
              (lname, size / 1e6, tw, t_load / tw, tt, t_load / (t_load + tt)))
    sys.stdout.flush()


def setup(be, binary, files, cwd):
    day1, day1c, day2 = files
    url = be.fresh()
    for f in (day1c,):
        _, rc, _, out = replay.timed([binary, "ingest", "--db", url, "--table", "orders", f], cwd)
        if rc:
            replay.die("ingest exited %d: %s" % (rc, out[-300:]))
    t_load, rc, _, out = replay.timed([binary, "ingest", "--db", url, "--table", "orders", day2],
                                      cwd)
    if rc:
        replay.die("the load exited %d: %s" % (rc, out[-300:]))
    url = be.fresh()
    _, rc, _, out = replay.timed([binary, "ingest", "--db", url, "--table", "orders", day1], cwd)
    if rc:
        replay.die("day 1 exited %d: %s" % (rc, out[-300:]))
    t_quar, rc, _, out = replay.timed(
        [binary, "ingest", "--db", url, "--table", "orders", "--policy", "review", day2], cwd)
    if rc != 3:
        replay.die("the quarantine run exited %d (3 expected): %s" % (rc, out[-300:]))
    return url, t_load, t_quar


def sqlite_side(binary, rows, files, tmp):
    be = replay.Sqlite(tmp)
    url, t_load, t_quar = setup(be, binary, files, tmp)
    src = url[len("sqlite:"):]
    con = sqlite3.connect(src)
    stored = con.execute("SELECT id, run_id, table_name, source, byte_offset, line, raw, kinds, "
                         "message, findings FROM _pipemend_quarantine ORDER BY id").fetchall()
    ddl = [r[0] for r in con.execute("SELECT sql FROM sqlite_master WHERE tbl_name = "
                                     "'_pipemend_quarantine' AND sql IS NOT NULL")]
    con.close()
    if len(stored) != rows:
        replay.die("%d rows in quarantine, %d expected" % (len(stored), rows))
    segs = segments(stored)
    layouts = []
    for lname in ("rows (as stored)", "segments", "segments, zlib-1"):
        path = os.path.join(tmp, "layout.db")
        for ext in ("", "-wal", "-shm"):
            if os.path.exists(path + ext):
                os.remove(path + ext)
        db = sqlite3.connect(path, isolation_level=None)
        for p in ("page_size=16384", "journal_mode=WAL", "synchronous=NORMAL",
                  "cache_size=-16384"):
            db.execute("PRAGMA " + p)
        if lname.startswith("rows"):
            for sql in ddl:
                db.execute(sql)
            db.execute("ATTACH ? AS src", (src,))
            t0 = time.perf_counter()
            db.execute("BEGIN IMMEDIATE")
            db.execute("INSERT INTO main._pipemend_quarantine SELECT * FROM src._pipemend_quarantine")
            db.execute("COMMIT")
            tw = time.perf_counter() - t0
            db.execute("DETACH src")
        else:
            db.execute("CREATE TABLE seg (first_qrow INTEGER PRIMARY KEY, table_name TEXT NOT NULL,"
                       " run_id INTEGER NOT NULL, nrows INTEGER NOT NULL, data BLOB NOT NULL)"
                       " STRICT")
            t0 = time.perf_counter()
            z = lname.endswith("zlib-1")
            db.execute("BEGIN IMMEDIATE")
            db.executemany("INSERT INTO seg VALUES (?, ?, ?, ?, ?)",
                           [s[:4] + (zlib.compress(s[4], 1) if z else s[4],) for s in segs])
            db.execute("COMMIT")
            tw = time.perf_counter() - t0
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        size = os.path.getsize(path)
        got = 0
        t0 = time.perf_counter()
        if lname.startswith("rows"):
            for k in range(0, rows, SEG):
                lo, hi = stored[k][0], stored[min(k + SEG, rows) - 1][0]
                db.execute("BEGIN IMMEDIATE")
                got += len(db.execute("SELECT raw, findings FROM _pipemend_quarantine WHERE "
                                      "table_name = 'orders' AND id >= ? AND id <= ?",
                                      (lo, hi)).fetchall())
                db.execute("DELETE FROM _pipemend_quarantine WHERE table_name = 'orders' AND "
                           "id >= ? AND id <= ?", (lo, hi))
                db.execute("COMMIT")
        else:
            for s in segs:
                db.execute("BEGIN IMMEDIATE")
                (data,) = db.execute("SELECT data FROM seg WHERE first_qrow = ?",
                                     (s[0],)).fetchone()
                if lname.endswith("zlib-1"):
                    data = zlib.decompress(data)
                if len(data) != len(s[4]):
                    replay.die("a segment came back with %d bytes, not %d" % (len(data),
                                                                             len(s[4])))
                got += s[3]
                db.execute("DELETE FROM seg WHERE first_qrow = ?", (s[0],))
                db.execute("COMMIT")
        tt = time.perf_counter() - t0
        db.close()
        if got != rows:
            replay.die("%s: %d rows taken out, %d expected" % (lname, got, rows))
        layouts.append((lname, size, tw, tt))
    report("SQLite", rows, t_load, t_quar, layouts)


def pg_side(binary, rows, files, tmp):
    be = replay.Postgres(tmp)
    try:
        url, t_load, t_quar = setup(be, binary, files, tmp)
        stored = []
        for line in be.psql(url, "SELECT id, run_id, table_name, source, byte_offset, line, "
                                 "encode(raw, 'hex'), kinds, message, findings FROM "
                                 "_pipemend_quarantine ORDER BY id").splitlines():
            f = line.split("\t")
            stored.append((int(f[0]), int(f[1]), f[2], f[3], int(f[4]), int(f[5]),
                           bytes.fromhex(f[6]), f[7], f[8], f[9]))
        if len(stored) != rows:
            replay.die("%d rows in quarantine, %d expected" % (len(stored), rows))
        segs = segments(stored)
        rows_bin = os.path.join(tmp, "rows.bin")
        be.psql(url, "\\copy (SELECT * FROM _pipemend_quarantine ORDER BY id) TO '%s' "
                     "(FORMAT binary)" % rows_bin)
        seg_bin = os.path.join(tmp, "seg.bin")
        with open(seg_bin, "wb") as f:
            f.write(b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0))
            for s in segs:
                t = s[1].encode()
                f.write(struct.pack(">hiq", 5, 8, s[0]) + struct.pack(">i", len(t)) + t +
                        struct.pack(">iqii", 8, s[2], 4, s[3]) + struct.pack(">i", len(s[4])) +
                        s[4])
            f.write(struct.pack(">h", -1))
        layouts = []
        for lname, make, data in (
                ("rows (as stored)", "CREATE TABLE public.lay (LIKE _pipemend_quarantine "
                 "INCLUDING ALL)", rows_bin),
                ("segments", "CREATE TABLE public.lay (first_qrow bigint PRIMARY KEY, table_name "
                 "text NOT NULL, run_id bigint NOT NULL, nrows integer NOT NULL, data bytea NOT "
                 "NULL); ALTER TABLE public.lay ALTER COLUMN data SET STORAGE EXTERNAL", seg_bin),
                ("segments, lz4", "CREATE TABLE public.lay (first_qrow bigint PRIMARY KEY, "
                 "table_name text NOT NULL, run_id bigint NOT NULL, nrows integer NOT NULL, data "
                 "bytea COMPRESSION lz4 NOT NULL)", seg_bin)):
            be.psql(url, "DROP TABLE IF EXISTS public.lay")
            for sql in make.split("; "):
                be.psql(url, sql)
            be.psql(url, "CHECKPOINT")
            out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
                                 input="\\timing on\n\\copy public.lay FROM '%s' (FORMAT binary)\n"
                                 % data, capture_output=True, text=True)
            ms = re.findall(r"Time: ([0-9.]+) ms", out.stdout)
            if out.returncode or len(ms) != 1:
                replay.die("psql: %s %s" % (out.stdout, out.stderr))
            tw = float(ms[0]) / 1e3
            size = int(be.psql(url, "SELECT pg_total_relation_size('public.lay')").strip())
            script = []
            if lname.startswith("rows"):
                for k in range(0, rows, SEG):
                    lo, hi = stored[k][0], stored[min(k + SEG, rows) - 1][0]
                    script.append("BEGIN; SELECT sum(length(raw) + length(findings)) FROM "
                                  "public.lay WHERE table_name = 'orders' AND id BETWEEN %d AND "
                                  "%d; DELETE FROM public.lay WHERE table_name = 'orders' AND id "
                                  "BETWEEN %d AND %d; COMMIT;" % (lo, hi, lo, hi))
            else:
                for s in segs:
                    script.append("BEGIN; SELECT length(substring(data from 2)) FROM public.lay "
                                  "WHERE first_qrow = %d; DELETE FROM public.lay WHERE first_qrow "
                                  "= %d; COMMIT;" % (s[0], s[0]))
            be.psql(url, "CHECKPOINT")
            t0 = time.perf_counter()
            out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url],
                                 input="\n".join(script) + "\n", capture_output=True, text=True)
            tt = time.perf_counter() - t0
            if out.returncode:
                replay.die("psql: %s" % out.stderr)
            if int(be.psql(url, "SELECT count(*) FROM public.lay").strip()):
                replay.die("%s: rows left after the take-out" % lname)
            layouts.append((lname, size, tw, tt))
        report("PostgreSQL", rows, t_load, t_quar, layouts)
    finally:
        be.close()


def main():
    binary, rows, backend = replay.parse_args(__doc__, 200000)
    tmp = tempfile.mkdtemp(prefix="pm-bench-layout-")
    try:
        files = replay.write_days(tmp, rows)
        if backend in ("sqlite", "both"):
            sqlite_side(binary, rows, files, tmp)
        if backend in ("pg", "both"):
            pg_side(binary, rows, files, tmp)
        print("machine: %d CPUs, load average %.2f" % (os.cpu_count(), os.getloadavg()[0]))
    finally:
        shutil.rmtree(tmp, True)


if __name__ == "__main__":
    main()
