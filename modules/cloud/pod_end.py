"""The end of a detached run on a RunPod pod when no one follows it: the pod applies
`on_detached_finish` / `on_detached_error` to itself.

A small watcher started beside the remote trainer waits for the run's exit line, then gives the local
side `FOLLOW_GRACE_SECONDS` to say it is following (it writes the `followed` file as soon as it reads
the exit line; it then downloads the results and applies `on_finish` / `on_error` itself). Without
that word the watcher stops or deletes the pod through `python -m modules.cloud.pod_end ACTION`, with
the pod's own credentials: RunPod gives each pod `RUNPOD_POD_ID` and an API key limited to that pod
(`RUNPOD_API_KEY`, kept in `/etc/rp_environment` for shells). The user's API key never goes to the pod.
"""
from __future__ import annotations

import os
import posixpath
import sys

from .connection import quote
from .runpod import API_URL_ENV

FOLLOWED = "followed"
WATCHER = "pod_end.sh"
FOLLOW_GRACE_SECONDS = 60  # the local side reads the events twice a second
POD_ENVIRONMENT = "/etc/rp_environment"  # where RunPod's images keep the pod's variables for shells
ACTIONS = ("STOP", "DELETE")


def wanted(cloud) -> bool:
    """Whether a detached run needs the watcher: some detached action is not NONE."""
    return bool(cloud.detach_trainer) and any(str(a) in ACTIONS for a in (cloud.on_detached_finish,
                                                                           cloud.on_detached_error))


def watcher_script(run_dir: str, pod_id: str, python: str, onetrainer_dir: str, on_finish: str, on_error: str,
                   grace: int | None = None) -> str:
    grace = FOLLOW_GRACE_SECONDS if grace is None else grace
    exit_line = "'\"type\": \"exit\"'"
    api_url = os.environ.get(API_URL_ENV)  # a server other than RunPod's (the tests') goes along; no secret
    return "\n".join([
        f"cd {quote(run_dir)} || exit 1",
        f"while ! grep -q {exit_line} events.jsonl 2>/dev/null; do",
        "  if ! kill -0 \"$(cat pid 2>/dev/null)\" 2>/dev/null; then",  # the run was killed: no exit line comes
        "    sleep 2",
        f"    grep -q {exit_line} events.jsonl 2>/dev/null || break",
        "  fi",
        "  sleep 2",
        "done",
        f"code=$(grep {exit_line} events.jsonl 2>/dev/null | sed -n 's/.*\"code\": *\\([0-9]*\\).*/\\1/p' | tail -n 1)",
        "waited=0",
        f"while [ ! -e {FOLLOWED} ] && [ \"$waited\" -lt {int(grace)} ]; do sleep 1; waited=$((waited + 1)); done",
        f"if [ -e {FOLLOWED} ]; then echo \"run followed to its end (exit $code): the local side acts\"; exit 0; fi",
        f"if [ \"$code\" = 0 ]; then action={on_finish}; else action={on_error}; fi",
        "echo \"run ended (exit ${code:-none}) with no one following: pod action $action\"",
        "[ \"$action\" = NONE ] && exit 0",
        f"[ -r {POD_ENVIRONMENT} ] && . {POD_ENVIRONMENT}",
        f"RUNPOD_POD_ID=${{RUNPOD_POD_ID:-{quote(pod_id)}}}",
        "export RUNPOD_POD_ID",
        *([f"export {API_URL_ENV}={quote(api_url)}"] if api_url else []),
        f"cd {quote(onetrainer_dir)} && exec {quote(python)} -m modules.cloud.pod_end \"$action\"",
        "",
    ])


def start_watcher(connection, run_dir: str, pod_id: str, python: str, cloud) -> None:
    """Writes the watcher beside the run and starts it detached from the SSH session."""
    script = watcher_script(run_dir, pod_id, python, cloud.onetrainer_dir, str(cloud.on_detached_finish),
                            str(cloud.on_detached_error))
    with connection.sftp.open(posixpath.join(run_dir, WATCHER), "w") as handle:
        handle.write(script.encode())
    connection.run(f"cd {quote(run_dir)} && rm -f {FOLLOWED} && (setsid nohup sh {WATCHER} > pod_end.log 2>&1 "
                   "< /dev/null &)")


def mark_followed(connection, run_dir: str) -> None:
    """Tells the watcher that this side saw the run's end and acts itself."""
    with connection.sftp.open(posixpath.join(run_dir, FOLLOWED), "w") as handle:
        handle.write(b"")


def main(argv: list[str] | None = None) -> int:
    """`python -m modules.cloud.pod_end STOP|DELETE`: the pod stops or deletes itself."""
    from .errors import CloudError
    from .runpod import RunPodClient

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in ACTIONS:
        print("usage: python -m modules.cloud.pod_end STOP|DELETE", file=sys.stderr)
        return 2
    pod_id, key = os.environ.get("RUNPOD_POD_ID", ""), os.environ.get("RUNPOD_API_KEY", "")
    if not pod_id or not key:
        print("error: RUNPOD_POD_ID and RUNPOD_API_KEY are not set: this is not a RunPod pod", file=sys.stderr)
        return 1
    try:
        with RunPodClient(key) as client:
            (client.stop_pod if args[0] == "STOP" else client.delete_pod)(pod_id)
    except CloudError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"pod {pod_id}: {args[0].lower()} asked")
    return 0


if __name__ == "__main__":
    sys.exit(main())
