"""The two file sync methods of cloud runs (not a test), against a throwaway OpenSSH server on 127.0.0.1:
a dataset uploaded with SFTP (FABRIC_SFTP) and with the system's scp (NATIVE_SCP), then again after
changing a few files. Prints each upload's time and scp's time ÷ SFTP's.

    .venv/bin/python bench/cloud_file_sync.py [--files 1000] [--size 50000] [--changed 10]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--size", type=int, default=50_000, help="bytes a file")
    parser.add_argument("--changed", type=int, default=10)
    args = parser.parse_args()

    from modules.cloud import scp
    from modules.cloud.connection import Connection, known_hosts_path
    from modules.cloud.sync import SyncStats, plan_upload, send_sftp
    from tests.cloud.sshd import running_sshd, trust

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        local = work / "data"
        for i in range(args.files):
            folder = local / f"part{i % 10}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{i:05d}.bin").write_bytes(os.urandom(args.size))
        (work / "sshd").mkdir()
        with running_sshd(work / "sshd") as server:
            trust(server, work)
            connection = Connection(server.host, server.port, server.user, key_file=server.key_file,
                                    known_hosts=known_hosts_path(work))
            login = scp.ScpLogin(server.host, server.port, server.user, server.key_file, "", known_hosts_path(work))
            ways = {"FABRIC_SFTP": lambda transfers, stats: send_sftp(connection.sftp, transfers, stats),
                    "NATIVE_SCP": lambda transfers, stats: scp.send(login, connection.sftp, transfers, stats)}

            def upload(way: str) -> tuple[float, SyncStats]:
                stats = SyncStats()
                started = time.perf_counter()
                ways[way](plan_upload(connection.sftp, str(local), str(work / way), stats), stats)
                return time.perf_counter() - started, stats

            first = {way: upload(way) for way in ways}
            for i in range(args.changed):
                (local / f"part{i % 10}" / f"{i:05d}.bin").write_bytes(os.urandom(args.size))
            second = {way: upload(way) for way in ways}
            connection.close()
    size = args.files * args.size / 1e6
    print(f"{args.files} files, {size:.0f} MB; then {args.changed} changed")
    for label, runs in (("first upload", first), ("after changes", second)):
        for way, (seconds, stats) in runs.items():
            print(f"  {label:14s} {way:12s} {seconds:7.2f} s  ({stats.files_sent} sent, {stats.files_skipped} unchanged)")
        print(f"  {label:14s} scp ÷ sftp    {runs['NATIVE_SCP'][0] / runs['FABRIC_SFTP'][0]:.2f}")


if __name__ == "__main__":
    main()
