"""`CloudTrainer`: the trainer interface (start, train, end) for a run on a Linux machine over SSH.

start uploads what the run needs (changed files only), installs the trainer there and starts the
headless trainer detached from the SSH session, in `<remote_dir>/runs/<run_id>/`. train follows the
run's event file and turns its lines into the local callbacks; local commands are appended to the
run's command file. end downloads what the `download_*` switches ask for. Because the remote run
does not depend on the connection, a run can be followed again later (`reattach=True`).
"""
from __future__ import annotations

import json
import logging
import os
import posixpath
import threading
import time

import paramiko

from modules.config.enums import CloudType

from .errors import CloudError
from .run_files import complete_lines

log = logging.getLogger(__name__)
POLL_SECONDS = 0.5
RECONNECT_DELAYS = (1, 2, 4, 8, 16, 32)  # seconds before each try after a lost connection (about a minute)
DOWNLOADS = {  # switch → the workspace sub-folder it brings back
    "download_samples": "samples",
    "download_saves": "save",
    "download_backups": "backup",
    "download_tensorboard": "tensorboard",
}


class CloudTrainer:
    def __init__(self, config, callbacks=None, commands=None, *, reattach: bool = False, data_dir: str | None = None):
        from modules.train import TrainCallbacks, TrainCommands

        self.config = config
        self.callbacks = callbacks or TrainCallbacks()
        self.commands = commands or TrainCommands()
        self.reattach = reattach
        self.data_dir = data_dir
        self.connection = None
        self.plan = None
        self.exit_code: int | None = None
        self.errors: list[str] = []
        self._offset = 0
        self._sent_stop = False
        self._pending: list[dict] = []  # commands from other threads, sent by the thread that owns the SFTP session
        self._pending_lock = threading.Lock()
        self.tunnel = None  # the forward to the remote TensorBoard (`tensorboard_tunnel`)
        self.tensorboard_url: str | None = None
        cloud = config.cloud
        self.run_dir = posixpath.join(cloud.remote_dir, "runs", cloud.run_id or "run")

    # ---- start -----------------------------------------------------------------------------------------
    def _connect(self):
        from .connection import Connection, known_hosts_path

        secrets = self.config.secrets.cloud
        return Connection(secrets.host, int(secrets.port or 22), secrets.user, key_file=secrets.key_file,
                          password=secrets.password, known_hosts=known_hosts_path(self.data_dir))

    def start(self) -> None:
        cloud = self.config.cloud
        if cloud.type != CloudType.LINUX:
            raise CloudError(f"cloud type {cloud.type.name} is not available: choose LINUX (a machine reachable by SSH)")
        if not cloud.run_id or "/" in cloud.run_id:
            raise CloudError(f"run id {cloud.run_id!r} cannot name a folder")
        self.connection = self._connect()
        status = self.callbacks.on_update_status
        cuda = self.connection.run("nvidia-smi -L", check=False)[0] == 0
        from .paths import plan_remote_run

        self.plan = plan_remote_run(self.config, cloud.remote_dir, cuda=cuda)
        running = self._running()
        if self.reattach:
            if not self._exists("events.jsonl"):
                raise CloudError(f"no run {cloud.run_id!r} on the remote machine to reattach to")
            status(f"reattached to run {cloud.run_id}")
            self.commands.set_on_command(self._send_commands)
            self._open_tunnel()
            return
        if running:
            raise CloudError(f"run {cloud.run_id!r} is still running on the remote machine: reattach to it or "
                             "choose another run id")
        from . import install, preflight, sync

        sftp = self.connection.sftp
        stats = sync.SyncStats()
        planned = {local: sync.plan_upload(sftp, local, remote, stats) for local, remote in self.plan.uploads.items()}
        preflight.check(self.connection, self.config, sum(t.size for ts in planned.values() for t in ts))
        python = install.prepare(self.connection, self.config, status)
        send = self._sender(sftp)
        for local, transfers in planned.items():
            if transfers:
                status(f"uploading {os.path.basename(local)}")
                try:
                    send(transfers, stats)
                except OSError as exc:  # a folder there this login may not write, a full disk ...
                    raise CloudError(f"uploading {local} to {self.plan.uploads[local]} on the remote machine failed: "
                                     f"{exc.strerror or exc}") from None
        log.info("uploaded %d files (%d bytes), %d unchanged", stats.files_sent, stats.bytes_sent, stats.files_skipped)
        self.upload_stats = stats
        if self._tunnel_wanted():
            self.plan.config.tensorboard_always_on = False  # the remote trainer starts its TensorBoard
        q = _q
        self.connection.run(f"rm -rf {q(self.run_dir)} && mkdir -p {q(self.run_dir)}")
        self._write_private("config.json", json.dumps(self.plan.config.to_pack_dict(secrets=False)))
        remote_secrets = self.config.secrets.copy()
        remote_secrets.cloud = type(remote_secrets.cloud).default_values()  # the SSH login stays here
        self._write_private("secrets.json", json.dumps(remote_secrets.to_dict()))
        self._write_private("run.sh", self._script(python))
        status("starting the remote trainer")
        self.connection.run(f"cd {q(self.run_dir)} && (setsid nohup sh run.sh > /dev/null 2>&1 < /dev/null & "
                            "echo $! > pid)")
        self.commands.set_on_command(self._send_commands)
        self._open_tunnel()

    def _sender(self, sftp):
        """How the upload sends its files: the system's scp (NATIVE_SCP) or this SFTP session (FABRIC_SFTP)."""
        from modules.config.enums import CloudFileSync

        from . import scp, sync

        if self.config.cloud.file_sync == CloudFileSync.NATIVE_SCP:
            if scp.available():
                from .connection import known_hosts_path

                secrets = self.config.secrets.cloud
                login = scp.ScpLogin(self.connection.host, self.connection.port, self.connection.user,
                                     secrets.key_file, secrets.password, known_hosts_path(self.data_dir))
                return lambda transfers, stats: scp.send(login, sftp, transfers, stats)
            self.callbacks.on_update_status("scp is not installed here: the files go over SFTP")
        return lambda transfers, stats: sync.send_sftp(sftp, transfers, stats)

    def _tunnel_wanted(self) -> bool:
        return bool(self.config.cloud.tensorboard_tunnel and self.config.tensorboard)

    def _open_tunnel(self) -> None:
        """The remote run's TensorBoard (on its machine's loopback) at a free port of this one."""
        if not self._tunnel_wanted():
            return
        from .tunnel import PortForward

        self.tunnel = PortForward(lambda: self.connection.client.get_transport(), self.plan.config.tensorboard_port)
        self.tensorboard_url = self.tunnel.url
        self.callbacks.on_update_status(f"TensorBoard of the remote run: {self.tensorboard_url}")

    def _script(self, python: str) -> str:
        q, run = _q, self.run_dir
        files = {name: posixpath.join(run, name) for name in ("config.json", "secrets.json", "events.jsonl",
                                                                "commands.jsonl", "trainer.log")}
        return "\n".join([
            f"cd {q(self.config.cloud.onetrainer_dir)} || exit 1",
            f"export HF_HOME={q(self.config.cloud.huggingface_cache_dir)}",
            f"{q(python)} -m modules.cli.train --config-path {q(files['config.json'])} "
            f"--secrets-path {q(files['secrets.json'])} --callback-path {q(files['events.jsonl'])} "
            f"--command-path {q(files['commands.jsonl'])} > {q(files['trainer.log'])} 2>&1",
            "code=$?",
            f"rm -f {q(files['config.json'])} {q(files['secrets.json'])}",  # the secrets never outlive the run
            f"printf '{{\"type\": \"exit\", \"code\": %d}}\\n' \"$code\" >> {q(files['events.jsonl'])}",
            "",
        ])

    def _write_private(self, name: str, text: str) -> None:
        path = posixpath.join(self.run_dir, name)
        with self.connection.sftp.open(path, "w") as handle:
            handle.chmod(0o600)  # before the contents arrive
            handle.write(text.encode())

    def _exists(self, name: str) -> bool:
        try:
            self.connection.sftp.stat(posixpath.join(self.run_dir, name))
            return True
        except FileNotFoundError:
            return False

    def _running(self) -> bool:
        pid = posixpath.join(self.run_dir, "pid")
        return self.connection.run(f"test -f {_q(pid)} && kill -0 \"$(cat {_q(pid)})\"", check=False)[0] == 0

    # ---- train -----------------------------------------------------------------------------------------
    def train(self) -> None:
        events_path = posixpath.join(self.run_dir, "events.jsonl")
        while self.exit_code is None:
            try:
                self._flush_commands()
                events = self._new_events(events_path)
                for event in events:
                    self._dispatch(event)
                if self.exit_code is None and not events and not self._running():
                    self._check_gone(events_path)
            except (OSError, EOFError, paramiko.SSHException) as exc:
                if self.connection.alive():
                    raise
                self._reconnect(exc)
                continue
            if self.exit_code is None:
                time.sleep(POLL_SECONDS)
        if self.exit_code != 0:
            raise CloudError(f"the remote run failed (exit {self.exit_code}): {self._last_words()}")

    def _reconnect(self, cause: BaseException) -> None:
        """A new connection after a lost one, trying again after 1, 2, 4 ... seconds; the remote run does
        not depend on the connection, so following it goes on where it stopped."""
        from .errors import UnknownHostKey

        status, why = self.callbacks.on_update_status, cause
        for attempt, delay in enumerate(RECONNECT_DELAYS, 1):
            status(f"connection lost, reconnecting (attempt {attempt})")
            time.sleep(delay)
            try:
                connection = self._connect()
            except UnknownHostKey:
                raise  # another machine answers: never follow it
            except CloudError as exc:
                why = exc
                continue
            try:
                self.connection.close()
            except (OSError, EOFError, paramiko.SSHException):
                pass
            self.connection = connection
            status("reconnected")
            return
        raise CloudError(f"lost the connection to the remote machine ({why}); run {self.config.cloud.run_id!r} "
                         "goes on there: reattach to follow it") from cause

    def _new_events(self, events_path: str) -> list[dict]:
        try:
            with self.connection.sftp.open(events_path, "rb") as handle:
                handle.seek(self._offset)
                events, used = complete_lines(handle.read())
        except FileNotFoundError:
            return []
        self._offset += used
        return events

    def _check_gone(self, events_path: str) -> None:
        """The trainer is not running and wrote no exit line: it was killed."""
        with self.connection.sftp.open(events_path, "rb") as handle:
            handle.seek(self._offset)
            if handle.read():
                return  # lines arrived in between
        if not self._running():
            time.sleep(POLL_SECONDS)  # the exit line is written right after the trainer ends
            with self.connection.sftp.open(events_path, "rb") as handle:
                handle.seek(self._offset)
                if not handle.read():
                    raise CloudError(f"the remote trainer ended without a word: {self._last_words()}")

    def _last_words(self) -> str:
        if self.errors:
            return self.errors[-1]
        log_path = posixpath.join(self.run_dir, "trainer.log")
        output = self.connection.run(f"tail -n 20 {_q(log_path)}", check=False)[1].strip().splitlines()
        refusals = [line for line in output if line.startswith("error:")]  # the reasons of a refused start
        return refusals[-1] if refusals else output[-1] if output else "no output"

    def _dispatch(self, event: dict) -> None:
        from modules.train.events import ScalarEvent
        from modules.train.progress import TrainProgress

        kind = event.get("type")
        if kind == "progress":
            progress = TrainProgress(epoch=event["epoch"], epoch_step=event["epoch_step"],
                                     epoch_sample=event.get("epoch_sample", 0), global_step=event["global_step"])
            self.progress = progress
            self.callbacks.on_update_train_progress(progress, event["max_step"], event["max_epoch"])
        elif kind == "status":
            self.callbacks.on_update_status(event["text"])
        elif kind == "scalar":
            self.callbacks.on_scalar(ScalarEvent(event["tag"], event["step"], event["value"]))
        elif kind == "sample_progress":
            self.callbacks.on_update_sample_default_progress(event["step"], event["max_step"])
        elif kind == "sample":
            self._sample(event)
        elif kind == "error":
            self.errors.append(event["text"])
        elif kind == "exit":
            self.exit_code = int(event["code"])

    def _sample(self, event: dict) -> None:
        """A sample the remote run wrote: downloaded (when asked) and handed on as a local one."""
        local = self.plan.local_of(event.get("path") or "")
        if not (self.config.cloud.download_samples and local):
            return
        from modules.train.callbacks import SampleOutput

        from . import sync

        sync.download(self.connection.sftp, event["path"], local)
        data = None
        if event.get("file_type", "IMAGE") == "IMAGE" and os.path.isfile(local):
            from PIL import Image

            with Image.open(local) as image:
                data = image.copy()
        output = SampleOutput(event.get("file_type", "IMAGE"), data, local, event.get("sample_index"),
                              event.get("prompt", ""))
        (self.callbacks.on_sample_custom if event.get("custom") else self.callbacks.on_sample_default)(output)

    def _send_commands(self, commands) -> None:
        entries = []
        if commands.get_stop_command() and not self._sent_stop:
            self._sent_stop = True
            entries.append({"command": "stop"})
        if commands.get_and_reset_sample_default_command():
            entries.append({"command": "sample_default"})
        entries += [{"command": "sample_custom", "sample": s.to_dict()} for s in commands.get_and_reset_sample_custom_commands()]
        if commands.get_and_reset_backup_command():
            entries.append({"command": "backup"})
        if commands.get_and_reset_save_command():
            entries.append({"command": "save"})
        with self._pending_lock:
            self._pending += entries

    def _flush_commands(self) -> None:
        with self._pending_lock:
            entries, self._pending = self._pending, []
        if entries and self.connection is not None and self.connection.alive():
            try:
                with self.connection.sftp.open(posixpath.join(self.run_dir, "commands.jsonl"), "a") as handle:
                    handle.write("".join(json.dumps(e) + "\n" for e in entries).encode())
            except OSError as exc:
                log.warning("could not send %s to the remote run: %s", [e["command"] for e in entries], exc)

    # ---- end -------------------------------------------------------------------------------------------
    def end(self) -> None:
        if self.connection is None:
            return
        self.commands.set_on_command(None)
        try:
            if self.exit_code is not None and self.connection.alive():
                self._download()
                if self.exit_code == 0 and self.config.cloud.delete_workspace:
                    self.callbacks.on_update_status("deleting the remote workspace")
                    remote_root = posixpath.join(self.config.cloud.remote_dir, "remote")
                    self.connection.run(f"rm -rf {_q(remote_root)} {_q(self.run_dir)}")
            elif self.connection.alive() and not self.config.cloud.detach_trainer and self.plan is not None:
                self.commands.stop()  # this side gave up: the remote run ends too
                self._send_commands(self.commands)
                self._flush_commands()
        finally:
            if self.tunnel is not None:
                self.tunnel.close()
            self.connection.close()

    def _download(self) -> None:
        from . import sync

        cloud, sftp = self.config.cloud, self.connection.sftp
        status = self.callbacks.on_update_status
        if cloud.download_output_model and "output_model_destination" in self.plan.outputs:
            local, remote = self.plan.outputs["output_model_destination"]
            status("downloading the model")
            sync.download(sftp, remote, local)
        if "workspace_dir" in self.plan.outputs:
            local_root, remote_root = self.plan.outputs["workspace_dir"]
            for switch, folder in DOWNLOADS.items():
                if getattr(cloud, switch):
                    sync.download(sftp, posixpath.join(remote_root, folder), os.path.join(local_root, folder))


def _q(path: str) -> str:
    from .connection import quote

    return quote(path)
