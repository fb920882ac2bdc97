"""`RunPodTrainer`: a cloud run on a RunPod pod. It creates the pod (or takes the one named by its
id), waits until the pod's SSH port is public and hands that address to the SSH run of
`CloudTrainer`; when the run ends it applies the pod action the settings ask for — `on_finish` after
a run that succeeded, `on_error` after any failure once the pod exists, so no pod is forgotten.
A run that goes on without us (detached, connection lost) is left to the pod: see `pod_end`.
"""
from __future__ import annotations

import logging
import os
import time
from typing import TYPE_CHECKING

from modules.config.enums import CloudAction, CloudType

from . import pod_end
from .errors import CloudError
from .runpod import Pod, RunPodClient, RunPodError

if TYPE_CHECKING:
    from .trainer import CloudTrainer

log = logging.getLogger(__name__)
SSH_WAIT_SECONDS = 900.0  # a new pod pulls its image first: minutes
POLL_SECONDS = (1.0, 10.0)  # the first wait between two looks at the pod, and the longest (the waits grow)
NO_PUBLIC_SSH_LOOKS = 3  # a running pod whose ports show without a public 22 gets none later


def pod_action(cloud, succeeded: bool | None) -> CloudAction:
    """What to do with the pod at the end: `succeeded` None means the remote run goes on (detached)."""
    if succeeded is None:
        return CloudAction.NONE
    return cloud.on_finish if succeeded else cloud.on_error


def public_key_of(key_file: str) -> str:
    """The OpenSSH public line of a private key file ('' when there is none or it cannot be read)."""
    if not key_file:
        return ""
    path = os.path.expanduser(key_file)
    try:
        with open(path + ".pub") as handle:
            return handle.read().strip()
    except OSError:
        pass
    try:
        import paramiko

        key = paramiko.PKey.from_path(path)
    except Exception:  # noqa: BLE001 - missing, encrypted or unknown: the account's own keys are used
        return ""
    return f"{key.get_name()} {key.get_base64()}"


class RunPodTrainer:
    def __init__(self, config, callbacks=None, commands=None, *, reattach: bool = False, data_dir: str | None = None):
        from modules.train import TrainCallbacks, TrainCommands

        self.config = config
        self.callbacks = callbacks or TrainCallbacks()
        self.commands = commands or TrainCommands()
        self.reattach = reattach
        self.data_dir = data_dir
        self.client: RunPodClient | None = None
        self.pod_id: str | None = None
        self.created = False
        self.started = False  # the pod was stopped and this run started it
        self.ssh: CloudTrainer | None = None  # the SSH run, once the pod answers
        self.failed = False

    # ---- start -----------------------------------------------------------------------------------------
    def start(self) -> None:
        try:
            self._start()
        except BaseException:
            self.failed = True
            raise

    def _start(self) -> None:
        from .trainer import CloudTrainer

        cloud, secrets = self.config.cloud, self.config.secrets.cloud
        self.client = RunPodClient(secrets.api_key)
        pod = self._pod()
        host, port = self._wait_for_ssh(pod)
        ssh_config = self.config.copy()
        ssh_config.cloud.type = CloudType.LINUX  # from here on an SSH run like any other
        ssh_config.secrets.cloud.host, ssh_config.secrets.cloud.port = host, str(port)
        ssh_config.secrets.cloud.user = secrets.user or "root"
        self.ssh = CloudTrainer(ssh_config, self.callbacks, self.commands, reattach=self.reattach,
                                data_dir=self.data_dir)
        self.ssh.start()
        log.info("RunPod pod %s (%s) trains run %s", self.pod_id, cloud.name, cloud.run_id)
        if not self.reattach and pod_end.wanted(cloud):  # the pod acts on itself if no one follows the run's end
            from .install import remote_python

            pod_end.start_watcher(self.ssh.connection, self.ssh.run_dir, self.pod_id, remote_python(ssh_config),
                                  cloud)

    def _pod(self) -> Pod:
        cloud, secrets = self.config.cloud, self.config.secrets.cloud
        status = self.callbacks.on_update_status
        pod_id = secrets.id.strip()
        if not pod_id and self.reattach:
            pod_id = self._pod_named(cloud.name)
        if pod_id:
            pod = self.client.pod(pod_id)
            self.pod_id = pod.id
            if pod.desired_status not in ("RUNNING", ""):
                status(f"starting pod {pod.id} ({pod.desired_status.lower()})")
                self.client.resume_pod(pod.id, pod.gpu_count)
                self.started = True
            return pod
        if not cloud.create:
            raise RunPodError("no RunPod pod: enter the pod's ID on the Cloud tab or turn on Create")
        status(f"creating a RunPod pod with {cloud.gpu_type or 'no GPU type'}")
        pod = self.client.create_pod(name=cloud.name, gpu_type=cloud.gpu_type, cloud_type=cloud.sub_type,
                                     volume_gb=cloud.volume_size, min_download=cloud.min_download,
                                     public_key=public_key_of(secrets.key_file))
        self.pod_id, self.created = pod.id, True
        status(f"created pod {pod.id}; waiting for its SSH port")
        return pod

    def _pod_named(self, name: str) -> str:
        found = [p.id for p in self.client.pods() if p.name == name and p.desired_status != "TERMINATED"]
        if len(found) != 1:
            raise RunPodError(f"{'no' if not found else 'more than one'} RunPod pod named {name!r} to reattach to: "
                              "enter the pod's ID on the Cloud tab")
        return found[0]

    def _wait_for_ssh(self, pod: Pod) -> tuple[str, int]:
        """The pod's public SSH address, once its SSH server answers (its key trusted as `_trust` says)."""
        from .connection import fetch_host_key

        deadline = time.monotonic() + SSH_WAIT_SECONDS
        wait, longest = POLL_SECONDS
        looks_without = 0  # looks at a running pod whose ports show, none of them a public 22
        while True:
            address = pod.ssh_address()
            looks_without = looks_without + 1 if address is None and pod.ports else 0
            if looks_without >= NO_PUBLIC_SSH_LOOKS:
                raise RunPodError(f"pod {pod.id} has no public SSH port: expose TCP port 22 on a public IP "
                                  "(RunPod's pod settings), or create the pod here")
            if address is not None:
                try:
                    key = fetch_host_key(*address)
                except CloudError:
                    key = None  # the port is mapped, the SSH server not up yet
                if key is not None:
                    self._trust(*address, key)
                    self.callbacks.on_update_status(f"pod {pod.id}: SSH at {address[0]}:{address[1]}")
                    return address
            if self.commands.get_stop_command():
                raise RunPodError(f"stopped while waiting for pod {pod.id} to open its SSH port")
            if time.monotonic() > deadline:
                raise RunPodError(f"pod {pod.id} opened no public SSH port within {SSH_WAIT_SECONDS:g} s "
                                  f"({pod.desired_status.lower() or 'no status'}): check it in the RunPod console")
            time.sleep(wait)
            wait = min(wait * 1.5, longest)
            pod = self.client.pod(pod.id)

    def _trust(self, host: str, port: int, key) -> None:
        """RunPod shows no pod's host key, and a pod makes new ones each time it starts: the key is trusted
        when the pod was created or started for this run, or when its address (named by RunPod's API) has
        no key yet; a running pod whose known key changed is refused by the SSH run."""
        import paramiko

        from .connection import known_hosts_path, trust_host_key

        path = known_hosts_path(self.data_dir)
        known = paramiko.HostKeys()
        if path.is_file():
            known.load(str(path))
        if self.created or self.started or known.lookup(host if port == 22 else f"[{host}]:{port}") is None:
            trust_host_key(host, port, key, path)

    # ---- train and end -----------------------------------------------------------------------------------
    def train(self) -> None:
        try:
            self.ssh.train()
        except BaseException:
            self.failed = True
            raise
        finally:
            if self.ssh.exit_code is not None and pod_end.wanted(self.config.cloud):
                try:  # this side saw the end: the pod leaves the action to it
                    pod_end.mark_followed(self.ssh.connection, self.ssh.run_dir)
                except Exception as exc:  # noqa: BLE001 - the connection went: the pod then acts after its grace
                    log.warning("could not tell pod %s that the run's end was seen: %s", self.pod_id, exc)

    def end(self) -> None:
        succeeded = self._succeeded()  # before the SSH run's end closes the connection
        try:
            if self.ssh is not None:
                self.ssh.end()
        except BaseException:
            succeeded = False  # the results did not all come back: never the finish action
            raise
        finally:
            try:
                self._apply(pod_action(self.config.cloud, succeeded))
            finally:
                if self.client is not None:
                    self.client.close()

    def _succeeded(self) -> bool | None:
        ssh = self.ssh
        if ssh is not None and ssh.exit_code is not None:
            return ssh.exit_code == 0 and not self.failed
        if self.reattach:
            return None  # a run this side did not start: acted on only once followed to its end
        lost = ssh is not None and ssh.connection is not None and not ssh.connection.alive()
        if lost and self.config.cloud.detach_trainer:
            return None  # the remote run goes on where it is
        return False if self.failed else None

    def _apply(self, action: CloudAction) -> None:
        if self.pod_id is None:
            return
        if action == CloudAction.NONE:
            if self.failed:
                self.callbacks.on_update_status(f"pod {self.pod_id} is still running (action on error: NONE)")
            return
        verb, doing, call = (("stop", "stopping", self.client.stop_pod) if action == CloudAction.STOP
                             else ("delete", "deleting", self.client.delete_pod))
        self.callbacks.on_update_status(f"{doing} pod {self.pod_id}")
        try:
            call(self.pod_id)
        except CloudError as exc:
            log.error("%s; pod %s may still be running: check it in the RunPod console", exc, self.pod_id)
            self.callbacks.on_update_status(f"could not {verb} pod {self.pod_id}: check the RunPod console")
