"""A stand-in for RunPod's GraphQL API on 127.0.0.1: it answers the operations the client sends, keeps
its pods, and records every call; a pod's public SSH port is the test SSH server's."""
from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NO_CAPACITY = ("There are no longer any instances available with the requested specifications. "
               "Please refresh and try again.")
_FIRST_FIELD = re.compile(r"\{\s*(\w+)")


@dataclass
class FakePod:
    id: str
    name: str
    status: str = "RUNNING"
    polls_before_ssh: int = 0  # pod queries answered without runtime ports first (the image starting)
    public_ssh: bool = True  # False: port 22 is mapped on the private network only
    gpu_count: int = 1


@dataclass
class FakeRunPod:
    api_key: str
    ssh_host: str
    ssh_port: int
    pods: dict[str, FakePod] = field(default_factory=dict)
    calls: list[tuple[str, dict]] = field(default_factory=list)  # (operation, variables) of accepted calls
    request_paths: list[str] = field(default_factory=list)
    auth_headers: list[str] = field(default_factory=list)
    pod_key: str = ""  # the key RunPod gives a pod for calls about itself
    pod_calls: list[tuple[str, dict]] = field(default_factory=list)  # calls made with the pod's key
    capacity: bool = True
    never_ssh: bool = False
    polls_before_ssh: int = 2

    def operations(self) -> list[str]:
        return [name for name, _ in self.calls]

    def inputs(self, operation: str) -> list[dict]:
        return [variables.get("input", {}) for name, variables in self.calls if name == operation]

    # ---- the answers -------------------------------------------------------------------------------------
    def answer(self, operation: str, variables: dict) -> dict:
        pod_input = variables.get("input") or {}
        if operation == "podFindAndDeployOnDemand":
            if not self.capacity:
                return {"errors": [{"message": NO_CAPACITY, "path": [operation]}], "data": {operation: None}}
            pod = FakePod(f"pod{len(self.pods) + 1:03d}", pod_input.get("name", ""),
                          polls_before_ssh=self.polls_before_ssh)
            self.pods[pod.id] = pod
            return {"data": {operation: self._pod(pod, count=False)}}
        if operation == "pod":
            pod = self.pods.get(pod_input.get("podId"))
            return {"data": {"pod": self._pod(pod) if pod else None}}
        if operation == "myself":
            return {"data": {"myself": {"pods": [self._pod(p, count=False) for p in self.pods.values()]}}}
        if operation in ("podStop", "podResume", "podTerminate"):
            pod = self.pods.get(pod_input.get("podId"))
            if pod is None:
                return {"errors": [{"message": "pod not found"}], "data": {operation: None}}
            pod.status = {"podStop": "EXITED", "podResume": "RUNNING", "podTerminate": "TERMINATED"}[operation]
            if operation == "podTerminate":
                return {"data": {operation: None}}
            return {"data": {operation: {"id": pod.id, "desiredStatus": pod.status}}}
        if operation == "gpuTypes":
            return {"data": {"gpuTypes": [
                {"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090", "memoryInGb": 24},
                {"id": "NVIDIA A40", "displayName": "A40", "memoryInGb": 48},
                {"id": "NVIDIA RTX A4000", "displayName": "RTX A4000", "memoryInGb": 16}]}}
        return {"errors": [{"message": f"Cannot query field \"{operation}\""}]}

    def _pod(self, pod: FakePod, count: bool = True) -> dict:
        runtime = None
        if pod.status == "RUNNING":
            if count and pod.polls_before_ssh > 0:
                pod.polls_before_ssh -= 1
            elif count and not self.never_ssh:
                runtime = {"ports": [
                    {"ip": "100.64.0.2", "isIpPublic": False, "privatePort": 22, "publicPort": 22, "type": "tcp"}]}
                if pod.public_ssh:
                    runtime["ports"].append({"ip": self.ssh_host, "isIpPublic": True, "privatePort": 22,
                                             "publicPort": self.ssh_port, "type": "tcp"})
        return {"id": pod.id, "name": pod.name, "desiredStatus": pod.status, "gpuCount": pod.gpu_count,
                "runtime": runtime}


class _Handler(BaseHTTPRequestHandler):
    api: FakeRunPod

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        api = self.server.api
        api.request_paths.append(self.path)
        auth = self.headers.get("Authorization", "")
        api.auth_headers.append(auth)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        found = _FIRST_FIELD.search(body.get("query", ""))
        operation = found.group(1) if found else ""
        by_pod = bool(api.pod_key) and auth == f"Bearer {api.pod_key}" and operation in ("podStop", "podTerminate")
        if auth != f"Bearer {api.api_key}" and not by_pod:
            self._send(401, {"errors": [{"message": "Unauthorized"}]})
            return
        variables = body.get("variables") or {}
        with self.server.lock:
            answer = api.answer(operation, variables)
            if "errors" not in answer:
                (api.pod_calls if by_pod else api.calls).append((operation, variables))
        self._send(200, answer)

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


class RunPodServer:
    """Serves `api` in a thread; `url` is what OT_RUNPOD_API_URL is set to."""

    def __init__(self, api: FakeRunPod):
        self.api = api
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.api, self.httpd.lock = api, threading.Lock()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/graphql"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> RunPodServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
