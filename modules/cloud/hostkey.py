"""Shows a remote machine's host key and, when its fingerprint is confirmed, trusts it.

    python -m modules.cloud.hostkey --host HOST [--port PORT] [--accept SHA256:...] [--data-dir .]
"""
from __future__ import annotations

import argparse
import sys

from .connection import fetch_host_key, fingerprint, known_hosts_path, trust_host_key
from .errors import CloudError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modules.cloud.hostkey", description=__doc__.splitlines()[0])
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, default=22)
    parser.add_argument("--accept", metavar="FINGERPRINT", help="trust the key if it has this fingerprint")
    parser.add_argument("--data-dir", help="folder of secrets.json and the known-hosts file (default: $OT_DATA_DIR "
                                           "or the current folder)")
    args = parser.parse_args(argv)
    try:
        key = fetch_host_key(args.host, args.port)
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    shown = fingerprint(key)
    print(f"{args.host}:{args.port} {key.get_name()} {shown}")
    if args.accept is None:
        return 0
    if args.accept != shown:
        print(f"error: the host presents {shown}, not {args.accept}; nothing trusted", file=sys.stderr)
        return 1
    path = known_hosts_path(args.data_dir)
    trust_host_key(args.host, args.port, key, path)
    print(f"trusted, in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
