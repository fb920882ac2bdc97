"""A small command-line client of the REST API, for scripts (standard library only).

    python -m ot_nicegui.api_client login                  # prints a token (asks for the password)
    export OT_API_TOKEN=...                                # or pass --token
    python -m ot_nicegui.api_client add my-config.json --name "night run"
    python -m ot_nicegui.api_client start-queue
    python -m ot_nicegui.api_client status

The address comes from --url or OT_API_URL (default http://127.0.0.1:8080). A config to add must
hold its concepts and samples (the app's "Export" writes such a file).
"""
from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path

DEFAULT_URL = 'http://127.0.0.1:8080'


class ApiError(Exception):
    """The server refused; the message is its reason."""


class Client:
    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0):
        self.url = url.rstrip('/')
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode('utf-8')
        request = urllib.request.Request(f'{self.url}/api{path}', data=data, method=method)
        request.add_header('Accept', 'application/json')
        if data is not None:
            request.add_header('Content-Type', 'application/json')
        if self.token:
            request.add_header('Authorization', f'Bearer {self.token}')
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return json.loads(answer.read() or b'null')
        except urllib.error.HTTPError as exc:
            raise ApiError(f'{exc.code}: {_detail(exc)}') from None
        except urllib.error.URLError as exc:
            raise ApiError(f'cannot reach {self.url}: {exc.reason}') from None


def _detail(exc: urllib.error.HTTPError) -> str:
    try:
        detail = json.loads(exc.read()).get('detail')
    except (ValueError, AttributeError):
        detail = None
    return detail if isinstance(detail, str) else json.dumps(detail) if detail else exc.reason


def _job_line(job: dict) -> str:
    note = f"  ({job['message']})" if job.get('message') else ''
    return f"{job['id']:>4}  {job['state']:<11} {job['name']}{note}"


def _commands(client: Client, args: argparse.Namespace):
    command = args.command
    if command == 'login':
        password = os.environ.get('OT_PASSWORD') or getpass.getpass('Password: ')
        return client.call('POST', '/login', {'password': password, 'name': args.name or 'command line'})['token']
    if command == 'jobs':
        listing = client.call('GET', '/jobs')
        header = f"queue {'running' if listing['running'] else 'paused'}"
        return '\n'.join([header, *(_job_line(j) for j in listing['jobs'])])
    if command == 'add':
        config = json.loads(Path(args.config).read_text(encoding='utf-8'))
        return _job_line(client.call('POST', '/jobs', {'config': config, 'name': args.name or ''}))
    if command == 'remove':
        client.call('DELETE', f'/jobs/{args.id}')
        return f'removed job {args.id}'
    if command == 'move':
        client.call('POST', f'/jobs/{args.id}/move', {'position': args.position})
        return f'job {args.id} is now at place {args.position}'
    if command in ('start', 'stop', 'resume'):
        return _job_line(client.call('POST', f'/jobs/{args.id}/{command}'))
    if command in ('start-queue', 'pause-queue'):
        listing = client.call('POST', f"/queue/{command.split('-')[0]}")
        return f"queue {'running' if listing['running'] else 'paused'}"
    if command == 'status':
        return json.dumps(client.call('GET', '/status'), indent=2)
    if command == 'samples':
        return '\n'.join(f"{s['step']:>7}  {s['prompt']}  {client.url}{s['url']}"
                         for s in client.call('GET', '/samples'))
    raise AssertionError(command)


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog='python -m ot_nicegui.api_client', description=__doc__.split('\n')[0])
    root.add_argument('--url', default=os.environ.get('OT_API_URL', DEFAULT_URL), help='the app (default: %(default)s)')
    root.add_argument('--token', default=os.environ.get('OT_API_TOKEN'), help='API token (default: $OT_API_TOKEN)')
    sub = root.add_subparsers(dest='command', required=True)
    sub.add_parser('login', help='print a new token (password from $OT_PASSWORD or asked)') \
        .add_argument('--name', help='a name for the token in the app')
    sub.add_parser('jobs', help='list the queue')
    add = sub.add_parser('add', help='add a config file (with concepts inlined) as a job')
    add.add_argument('config')
    add.add_argument('--name')
    for name, text in (('remove', 'remove a job'), ('start', 'start a queued job now'),
                       ('stop', 'stop the running job'), ('resume', 'queue a job again, from its last backup')):
        sub.add_parser(name, help=text).add_argument('id', type=int)
    move = sub.add_parser('move', help='move a job to a place in the queue (0 = first)')
    move.add_argument('id', type=int)
    move.add_argument('position', type=int)
    sub.add_parser('start-queue', help='run the queued jobs one after another')
    sub.add_parser('pause-queue', help='take no further job')
    sub.add_parser('status', help='phase and progress of the run')
    sub.add_parser('samples', help='the latest samples')
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        print(_commands(Client(args.url, args.token), args))
    except (ApiError, OSError, ValueError) as exc:
        print(f'error: {exc}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
