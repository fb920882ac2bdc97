"""A small client of RunPod's GraphQL API (the one its own SDK and console use): GPU types, creating,
reading, resuming, stopping and deleting a pod.

The API key travels in the `Authorization` header only, never in a URL, so no request line that a
log or an error message repeats can reveal it; every message is scrubbed of it as well.
`OT_RUNPOD_API_URL` points the client at another server (the tests' local one).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import httpx

from .errors import CloudError

API_URL = "https://api.runpod.io/graphql"
API_URL_ENV = "OT_RUNPOD_API_URL"
REQUEST_TIMEOUT = 30.0
# the pod's image: Python 3.11 (what this project needs), sshd started by the image when PUBLIC_KEY is set
IMAGE = os.environ.get("OT_RUNPOD_IMAGE", "runpod/pytorch:2.4.0-py3.11-cuda12.4.1-devel-ubuntu22.04")
CONTAINER_DISK_GB = 30  # the image and the virtual environment; data and models go to the volume
VOLUME_MOUNT = "/workspace"  # the default remote folder of a cloud run
SSH_PORT = 22
CLOUD_TYPES = {"": "ALL", "COMMUNITY": "COMMUNITY", "SECURE": "SECURE"}  # cloud.sub_type → RunPod's cloudType
_CLOUD_WORDS = {"ALL": "community or secure cloud", "COMMUNITY": "community cloud", "SECURE": "secure cloud"}


class RunPodError(CloudError):
    """The RunPod API refused or failed a request; the message is one line and never holds the key."""


@dataclass(frozen=True)
class GpuType:
    id: str
    display_name: str
    memory_gb: int


@dataclass(frozen=True)
class Pod:
    id: str
    name: str
    desired_status: str  # RUNNING, EXITED (stopped), TERMINATED ...
    ports: tuple[dict, ...]  # runtime.ports: empty until the container runs
    gpu_count: int = 1

    def ssh_address(self) -> tuple[str, int] | None:
        """The public address of the pod's SSH port, once RunPod has mapped it."""
        for port in self.ports:
            if (port.get("privatePort") == SSH_PORT and port.get("isIpPublic") and port.get("ip")
                    and port.get("publicPort") and str(port.get("type", "tcp")).lower() == "tcp"):
                return str(port["ip"]), int(port["publicPort"])
        return None


_POD_FIELDS = "id name desiredStatus gpuCount runtime { ports { ip isIpPublic privatePort publicPort type } }"


class RunPodClient:
    def __init__(self, api_key: str, url: str | None = None, timeout: float = REQUEST_TIMEOUT):
        if not api_key.strip():
            raise RunPodError("no RunPod API key: set it on the Cloud tab (stored in secrets.json)")
        self.url = url or os.environ.get(API_URL_ENV) or API_URL
        self._key = api_key.strip()
        self._http = httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {self._key}"})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> RunPodClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- requests ----------------------------------------------------------------------------------
    def gpu_types(self) -> list[GpuType]:
        data = self._call("query GpuTypes { gpuTypes { id displayName memoryInGb } }", what="listing the GPU types")
        types = [GpuType(str(t["id"]), str(t.get("displayName") or t["id"]), int(t.get("memoryInGb") or 0))
                 for t in data.get("gpuTypes") or [] if t.get("id")]
        return sorted(types, key=lambda t: (t.memory_gb, t.display_name))

    def create_pod(self, *, name: str, gpu_type: str, cloud_type: str = "", volume_gb: int = 100,
                   min_download: int = 0, public_key: str = "") -> Pod:
        """An on-demand pod with one GPU of `gpu_type`, its SSH port public and the volume at /workspace."""
        if not gpu_type.strip():
            raise RunPodError("no GPU type for the new pod: choose one on the Cloud tab (GPU)")
        if cloud_type.upper() not in CLOUD_TYPES:
            raise RunPodError(f"unknown machine sub-type {cloud_type!r}: leave it empty, COMMUNITY or SECURE")
        pod_input = {
            "name": name or "OneTrainer", "imageName": IMAGE, "gpuTypeId": gpu_type.strip(), "gpuCount": 1,
            "cloudType": CLOUD_TYPES[cloud_type.upper()], "volumeInGb": int(volume_gb),
            "containerDiskInGb": CONTAINER_DISK_GB, "volumeMountPath": VOLUME_MOUNT, "ports": f"{SSH_PORT}/tcp",
            "supportPublicIp": True, "startSsh": True,
        }
        if min_download:
            pod_input["minDownload"] = int(min_download)  # Mbps
        if public_key:
            pod_input["env"] = [{"key": "PUBLIC_KEY", "value": public_key}]  # the image adds it to root's keys
        data = self._call("mutation Deploy($input: PodFindAndDeployOnDemandInput!) { "
                          f"podFindAndDeployOnDemand(input: $input) {{ {_POD_FIELDS} }} }}", {"input": pod_input},
                          what=f"creating a pod with {gpu_type.strip()} ({_CLOUD_WORDS[pod_input['cloudType']]})")
        pod = data.get("podFindAndDeployOnDemand")
        if not pod:
            raise RunPodError(f"RunPod created no {gpu_type.strip()} pod: no machine with that GPU is available")
        return _pod(pod)

    def pod(self, pod_id: str) -> Pod:
        data = self._call(f"query Pod($input: PodFilter!) {{ pod(input: $input) {{ {_POD_FIELDS} }} }}",
                          {"input": {"podId": pod_id}}, what=f"reading pod {pod_id}")
        if not data.get("pod"):
            raise RunPodError(f"no pod {pod_id!r} in this RunPod account")
        return _pod(data["pod"])

    def pods(self) -> list[Pod]:
        data = self._call(f"query Pods {{ myself {{ pods {{ {_POD_FIELDS} }} }} }}", what="listing the pods")
        return [_pod(p) for p in (data.get("myself") or {}).get("pods") or []]

    def resume_pod(self, pod_id: str, gpu_count: int = 1) -> None:
        self._call("mutation Resume($input: PodResumeInput!) { podResume(input: $input) { id desiredStatus } }",
                   {"input": {"podId": pod_id, "gpuCount": max(1, int(gpu_count))}}, what=f"starting pod {pod_id}")

    def stop_pod(self, pod_id: str) -> None:
        self._call("mutation Stop($input: PodStopInput!) { podStop(input: $input) { id desiredStatus } }",
                   {"input": {"podId": pod_id}}, what=f"stopping pod {pod_id}")

    def delete_pod(self, pod_id: str) -> None:
        self._call("mutation Terminate($input: PodTerminateInput!) { podTerminate(input: $input) }",
                   {"input": {"podId": pod_id}}, what=f"deleting pod {pod_id}")

    # ---- transport ---------------------------------------------------------------------------------
    def _call(self, query: str, variables: dict | None = None, *, what: str) -> dict:
        body = {"query": query, **({"variables": variables} if variables else {})}
        try:
            response = self._http.post(self.url, json=body)
        except httpx.HTTPError as exc:
            raise RunPodError(self._scrub(f"{what}: cannot reach the RunPod API at {self.url}: {exc}")) from None
        if response.status_code in (401, 403):
            raise RunPodError(f"{what}: RunPod refused the API key (HTTP {response.status_code}); check the API key "
                              "on the Cloud tab")
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            raise RunPodError(f"{what}: the RunPod API answered HTTP {response.status_code} without JSON")
        errors = answer.get("errors") or []
        if errors:
            message = "; ".join(str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors)
            if any(word in message.lower() for word in ("unauthorized", "api key", "apikey")):
                raise RunPodError(self._scrub(f"{what}: RunPod refused the API key ({message}); check the API key "
                                              "on the Cloud tab"))
            raise RunPodError(self._scrub(f"{what}: {' '.join(message.split())}"))
        if response.status_code >= 400:
            raise RunPodError(f"{what}: the RunPod API answered HTTP {response.status_code}")
        return answer.get("data") or {}

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "•••")


def _pod(data: dict) -> Pod:
    runtime = data.get("runtime") or {}
    return Pod(str(data["id"]), str(data.get("name") or ""), str(data.get("desiredStatus") or ""),
               tuple(p for p in runtime.get("ports") or [] if isinstance(p, dict)), int(data.get("gpuCount") or 1))
