"""Training speed inside the UI against the command line, and the UI's event-loop lag meanwhile.

    .venv/bin/python bench/ui_training_speed.py [--rounds 3] [--epochs 20] [--images 8]
        [--cases chromium:1 protocol:20] [--trainer-cpus 0] [--client-cpus 1] [--profile DIR]

What is compared: one tiny SD 1.5 LoRA config, trained by `python -m modules.cli.train` (the
baseline) and by the app (`python -m ot_nicegui` with a lag probe added) while clients watch its
Run tab. Steps/s come from the run's own TensorBoard file (wall time of the first and last
`loss/train_step`), so start-up and model loading do not count.

Method:
- Cores are split. The trainer's process (the CLI, or the app's server) runs on `--trainer-cpus`,
  everything on the client side (this script, Chromium, the protocol clients) on `--client-cpus`
  (on two cores: trainer on core 0, clients on core 1), the same for the baseline and the UI runs.
  In real use the browser runs on another machine; sharing the trainer's core with it would
  measure the browser, not the server.
- Cases: `chromium:N` opens N pages in headless Chromium (the first one clicks Start);
  `protocol:N` opens N light clients that speak NiceGUI's protocol (`_servers.ProtocolClient`:
  they load the page, connect its socket.io channel with the page's own query, answer plotly's
  redraw event and acknowledge messages like the page script), so the server does all its
  per-client work for N clients without N browsers; the run is started through a bench route.
  `none:0` is a run nobody watches.
- Rounds: each round runs the baseline, then every case, and the ratio of a case is its steps/s
  over the baseline of the same round; the machine is noisy, so the median over the rounds is the
  figure (every ratio is printed).
- CPU share: this script samples the CPU time of the trainer's process and of each of its threads
  (/proc) while it runs. The trainer thread's share of its process's CPU between the first and the
  last step, over the same share in the CLI, is what everything else in the app (event loop,
  per-client work) takes from the trainer when it has one core. Other programs on the machine
  steal wall time, not this process's CPU time, so this figure is far steadier than steps/s; it
  misses only indirect costs (GIL hand-overs, caches), which the steps/s ratio includes.
- Event-loop lag: how late a 50 ms sleep on the app's loop wakes up while the run is going
  (p50/p99/max); loop CPU is the loop thread's CPU time over wall time meanwhile. Also printed:
  how many bindings NiceGUI polls (should be 0) and the messages each protocol client received
  per second.

Goals: ratio >= 0.99 with one client, >= 0.97 with 20, lag p99 < 50 ms. Never asserted by tests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

PROBE_SLEEP = 0.05  # the probe's own wake-ups count as the app's work: not too many
PROFILES: Path | None = None  # --profile: a folder for cProfile files of the app's event loop
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--no-first-run']


# ---- the app with a lag probe (this file re-runs itself as the server) ---------------------------
def serve(argv: list[str]) -> None:
    from nicegui import app, background_tasks

    from ot_nicegui.__main__ import main
    from ot_nicegui.state.training_session import Phase, get_training_session

    lags: list[float] = []
    loop_cpu: dict[str, float] = {}

    profile = os.environ.get('OT_BENCH_PROFILE')
    profiler = None
    if profile:  # the event loop's thread while the run goes: what the UI costs the trainer
        import cProfile

        profiler = cProfile.Profile()

    async def probe() -> None:
        session = get_training_session()
        profiling = False
        while True:
            start = time.perf_counter()
            await asyncio.sleep(PROBE_SLEEP)
            if profiler is not None and (session.phase == Phase.RUNNING) != profiling:
                profiling = not profiling
                if profiling:
                    profiler.enable()
                else:
                    profiler.disable()
                    profiler.dump_stats(profile)
            if session.phase == Phase.RUNNING:
                now = time.perf_counter()
                lags.append(now - start - PROBE_SLEEP)
                loop_cpu.setdefault('wall0', now)
                loop_cpu.setdefault('cpu0', time.thread_time())
                loop_cpu['wall1'], loop_cpu['cpu1'] = now, time.thread_time()

    app.on_startup(lambda: background_tasks.create(probe(), name='lag probe'))

    def state() -> dict:
        from nicegui import Client, binding

        session = get_training_session()
        outcome = session.last_outcome
        wall = loop_cpu.get('wall1', 0.0) - loop_cpu.get('wall0', 0.0)
        return {'phase': session.phase.value, 'outcome': outcome.value if outcome else None,
                'step': session.progress.global_step, 'lags': lags,
                'loop_cpu': (loop_cpu['cpu1'] - loop_cpu['cpu0']) / wall if wall > 0 else None,
                'trainer': session._thread.native_id if session._thread else None,
                'clients': sum(1 for c in Client.instances.values() if c.has_socket_connection),
                'active_links': len(binding.active_links)}

    @app.get('/bench/state')
    def get_state() -> dict:
        return state()

    @app.get('/bench/wait')
    async def wait(timeout: float = 600.0) -> dict:
        """Answers once the run has ended (one request instead of polling the server meanwhile)."""
        deadline = time.monotonic() + timeout
        session = get_training_session()
        while session.last_outcome is None or session.busy:
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        return state()

    @app.post('/bench/start')
    def start() -> dict:
        from ot_nicegui.state.config_session import get_session

        config_session = get_session()
        get_training_session().start(config_session.config, config_session.data_dir)
        return {'started': True}

    main(argv)


# ---- preparing the run ---------------------------------------------------------------------------------
def prepare(work: Path, images: int, epochs: int) -> Path:
    import numpy as np
    from PIL import Image

    from modules.config.enums import ModelType, TimeUnit, TrainingMethod
    from modules.config.files import atomic_write_json
    from modules.config.train_config import TrainConfig
    from modules.families.sd.tiny import build_tiny_sd

    model = build_tiny_sd(ModelType.STABLE_DIFFUSION_15, work / 'model')
    folder = work / 'images'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(images):
        Image.fromarray(rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(folder / f'{i}.png')
        (folder / f'{i}.txt').write_text(f'picture {i}')
    atomic_write_json(work / 'concepts.json', [{'name': 'c', 'path': str(folder)}])
    cfg = TrainConfig.default_values()
    cfg.model_type, cfg.training_method = ModelType.STABLE_DIFFUSION_15, TrainingMethod.LORA
    cfg.output_model_format = cfg.supported_output_formats()[0]
    cfg.base_model_name, cfg.concept_file_name = str(model), str(work / 'concepts.json')
    cfg.train_device, cfg.resolution, cfg.batch_size, cfg.epochs = 'cpu', '32', 1, epochs
    cfg.lora_rank, cfg.tensorboard = 4, False
    cfg.sample_after_unit = cfg.backup_after_unit = cfg.save_every_unit = TimeUnit.NEVER
    cfg.backup_before_save = False
    cfg.cache_dir = str(work / 'cache')
    cfg.change_optimizer(cfg.optimizer.optimizer)  # the UI applies the optimizer's defaults on load; so must the CLI
    path = work / 'config.json'
    atomic_write_json(path, cfg.to_settings_dict(secrets=False))
    return path


def with_workspace(config: Path, workspace: Path) -> Path:
    data = json.loads(config.read_text())
    data['workspace_dir'] = str(workspace)
    data['output_model_destination'] = str(workspace / 'out.safetensors')
    data['cache_dir'] = str(workspace / 'cache')  # every run encodes its own latents: the same work each time
    path = workspace.with_suffix('.json')
    path.write_text(json.dumps(data))
    return path


def step_times(workspace: Path) -> list[float]:
    """Wall times (time.time()) of every training step, from the run's event file."""
    from ot_nicegui.tb_reader import list_runs, read_scalars

    logdir = workspace / 'tensorboard'
    runs = list_runs(logdir)
    if not runs:
        raise RuntimeError(f'no TensorBoard run in {logdir}')
    return list(read_scalars(logdir / runs[0])['loss/train_step'].wall_times)


class CpuClock:
    """CPU time of a process and of each of its threads, sampled with wall-clock stamps by a
    thread of this script, so that what a run used between two wall times can be read afterwards.

    Other programs on the same core steal wall time, not this process's CPU time: the share of the
    process's CPU that its trainer thread got shows what everything else in the process (the UI)
    costs the trainer, with far less noise than steps/s on a busy machine."""

    def __init__(self, pid: int, interval: float = 0.2):
        self._proc = Path(f'/proc/{pid}')
        self._tick = os.sysconf('SC_CLK_TCK')
        self._samples: list[tuple[float, dict[int | None, float]]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _cpu(self, stat: Path) -> float:
        fields = stat.read_text().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self._tick  # utime + stime

    def _read(self) -> dict[int | None, float]:
        """{None: the whole process (threads that ended included), native thread id: that thread}"""
        cpu: dict[int | None, float] = {None: self._cpu(self._proc / 'stat')}
        for task in (self._proc / 'task').iterdir():
            try:
                cpu[int(task.name)] = self._cpu(task / 'stat')
            except OSError:
                continue  # the thread just ended
        return cpu

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                self._samples.append((time.time(), self._read()))
            except OSError:
                break  # the process has ended
            self._stop.wait(interval)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        try:
            self._samples.append((time.time(), self._read()))  # the last sample follows the run's end
        except OSError:
            pass

    def share(self, start: float, end: float, thread: int) -> float:
        """The share of the process's CPU time that `thread` (a native id) used from the last
        sample before `start` to the first one after `end` (or the last one the thread lived in)."""
        alive = [(when, cpu) for when, cpu in self._samples if thread in cpu]
        before = [cpu for when, cpu in alive if when <= start] or [alive[0][1]]
        after = [cpu for when, cpu in alive if when >= end] or [alive[-1][1]]
        first, last = before[-1], after[0]
        return (last[thread] - first[thread]) / (last[None] - first[None])


def env() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    environment['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), environment.get('PYTHONPATH')]))
    return environment


def pinned(cpus: set[int]):
    """A preexec_fn that moves the child onto `cpus` before it starts."""
    return lambda: os.sched_setaffinity(0, cpus)


# ---- the runs -----------------------------------------------------------------------------------------
@dataclass
class Result:
    rate: float  # steps per second (wall clock)
    trainer_share: float  # the trainer thread's share of its process's CPU time
    steps: int
    lags: list[float] = field(default_factory=list)
    loop_cpu: float | None = None
    messages: float | None = None  # messages each client received per second of training
    polled_bindings: int = 0  # NiceGUI's active links: bindings its refresh loop polls


def measured(workspace: Path, clock: CpuClock, trainer: int, **extra) -> Result:
    times = step_times(workspace)
    return Result((len(times) - 1) / (times[-1] - times[0]), clock.share(times[0], times[-1], trainer), len(times),
                  **extra)


def run_cli(config: Path, work: Path, name: str, cpus: set[int]) -> Result:
    workspace = work / name
    cfg = with_workspace(config, workspace)
    process = subprocess.Popen([sys.executable, '-m', 'modules.cli.train', '--config-path', str(cfg)], cwd=work,
                               env=env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               preexec_fn=pinned(cpus))
    clock = CpuClock(process.pid)
    if process.wait() != 0:
        raise RuntimeError(f'the CLI run failed ({process.returncode})')
    clock.stop()
    return measured(workspace, clock, process.pid)  # the CLI trains on its main thread


def _get(url: str, timeout: float = 5) -> dict:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def _start_server(cfg: Path, work: Path, name: str, cpus: set[int]) -> tuple[subprocess.Popen, str, Path]:
    from _servers import free_port

    environment = env()
    if PROFILES:
        environment['OT_BENCH_PROFILE'] = str(PROFILES / f'{name}.prof')

    data = work / f'data-{name}'
    data.mkdir()
    port = free_port()
    log = work / f'{name}.log'
    with log.open('w') as out:
        server = subprocess.Popen([sys.executable, __file__, 'serve', '--port', str(port), '--data-dir', str(data),
                                   '--config', str(cfg)], cwd=work, env=environment, stdout=out,
                                  stderr=subprocess.STDOUT, preexec_fn=pinned(cpus))
    url = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + 120
    while True:
        try:
            _get(url + '/bench/state')
            return server, url, log
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError(f'the app did not start; see {log}') from None
            time.sleep(0.2)


def _watch_with_chromium(url: str, clients: int) -> dict:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=os.environ.get('CHROMIUM', '/usr/bin/chromium'),
                                     args=CHROMIUM_ARGS)
        pages = []
        for _ in range(clients):
            page = browser.new_context(viewport={'width': 1280, 'height': 900}).new_page()
            page.goto(url + '/?tab=run')
            page.wait_for_function("document.getElementById('ot-connection')?.dataset.state === 'online'")
            pages.append(page)
        if pages:
            pages[0].get_by_role('button', name='Start training').click()
        else:
            urllib.request.urlopen(urllib.request.Request(url + '/bench/start', method='POST'), timeout=30)
        state = _get(url + '/bench/wait', timeout=900)
        browser.close()
    return state


async def _watch_with_protocol(url: str, clients: int) -> tuple[dict, float]:
    import aiohttp
    from _servers import ProtocolClient

    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as http:
        watchers = [ProtocolClient(url, '/?tab=run') for _ in range(clients)]
        for watcher in watchers:
            await watcher.connect(http)
        await asyncio.sleep(1.0)  # every connect handler has run
        started = time.monotonic()
        await loop.run_in_executor(None, lambda: urllib.request.urlopen(
            urllib.request.Request(url + '/bench/start', method='POST'), timeout=30).read())
        state = await loop.run_in_executor(None, lambda: _get(url + '/bench/wait', timeout=900))
        seconds = time.monotonic() - started
        received = sum(sum(w.messages.values()) for w in watchers)
        for watcher in watchers:
            await watcher.close()
    return state, received / max(1, clients) / seconds


def run_ui(config: Path, work: Path, name: str, kind: str, clients: int, cpus: set[int]) -> Result:
    workspace = work / name
    cfg = with_workspace(config, workspace)
    server, url, log = _start_server(cfg, work, name, cpus)
    clock = CpuClock(server.pid)
    messages = None
    try:
        if kind == 'protocol':
            state, messages = asyncio.run(_watch_with_protocol(url, clients))
        else:
            state = _watch_with_chromium(url, clients)
    finally:
        clock.stop()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    if state['outcome'] != 'finished':
        raise RuntimeError(f'the UI run ended {state["outcome"]}; see {log}')
    return measured(workspace, clock, state['trainer'], lags=state['lags'], loop_cpu=state['loop_cpu'], messages=messages,
                    polled_bindings=state['active_links'])


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float('nan')


def cpu_list(text: str) -> set[int]:
    cpus: set[int] = set()
    for part in text.split(','):
        low, _, high = part.partition('-')
        cpus.update(range(int(low), int(high or low) + 1))
    return cpus


def split_cpus(args: argparse.Namespace) -> tuple[set[int], set[int]]:
    available = sorted(os.sched_getaffinity(0))
    trainer = cpu_list(args.trainer_cpus) if args.trainer_cpus else {available[0]}
    clients = cpu_list(args.client_cpus) if args.client_cpus else (set(available) - trainer or trainer)
    if trainer & clients:
        print('warning: trainer and clients share cores; the ratios then include the clients\' own work',
              flush=True)
    return trainer, clients


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--epochs', type=int, default=20)
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--cases', nargs='+', default=['chromium:1', 'protocol:20'],
                        help='KIND:CLIENTS with KIND chromium, protocol or none')
    parser.add_argument('--trainer-cpus', help='cores of the trainer process, e.g. "0" (default: the first one)')
    parser.add_argument('--client-cpus', help='cores of every client (default: all other cores)')
    parser.add_argument('--profile', type=Path, help='write a cProfile file of the app\'s event loop per UI run here')
    args = parser.parse_args()
    global PROFILES
    PROFILES = args.profile.resolve() if args.profile else None
    if PROFILES:
        PROFILES.mkdir(parents=True, exist_ok=True)
    cases = [(kind, int(count)) for kind, _, count in (case.partition(':') for case in args.cases)]
    trainer_cpus, client_cpus = split_cpus(args)
    os.sched_setaffinity(0, client_cpus)  # this script and every browser it starts
    print(f'trainer on cores {sorted(trainer_cpus)}, clients on cores {sorted(client_cpus)}', flush=True)
    ratios: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    shares: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    lags: dict[tuple[str, int], list[float]] = {case: [] for case in cases}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = prepare(work, args.images, args.epochs)
        for round_ in range(args.rounds):
            cli = run_cli(config, work, f'cli-{round_}', trainer_cpus)
            print(f'round {round_ + 1}: CLI {cli.rate:.3f} steps/s, trainer thread {100 * cli.trainer_share:.1f} % '
                  f'of its process\'s CPU ({cli.steps} steps)', flush=True)
            for case in cases:
                kind, clients = case
                ui = run_ui(config, work, f'{kind}{clients}-{round_}', kind, clients, trainer_cpus)
                ratios[case].append(ui.rate / cli.rate)
                shares[case].append(ui.trainer_share / cli.trainer_share)
                lags[case].extend(ui.lags)
                extra = f', {ui.messages:.1f} messages/s per client' if ui.messages is not None else ''
                print(f'round {round_ + 1}: UI, {clients} {kind} client(s): {ui.rate:.3f} steps/s, ratio '
                      f'{ratios[case][-1]:.3f}; trainer thread {100 * ui.trainer_share:.1f} % (ratio '
                      f'{shares[case][-1]:.3f}); loop CPU {100 * (ui.loop_cpu or 0):.1f} %; lag p99 '
                      f'{1000 * percentile(ui.lags, 0.99):.1f} ms; {ui.polled_bindings} polled bindings{extra}',
                      flush=True)
    print()
    for case in cases:
        kind, clients = case
        lag = lags[case]
        print(f'{clients} {kind} client(s): ratio UI/CLI {summary(ratios[case])}; by CPU share '
              f'{summary(shares[case])}; event-loop lag p50 {1000 * percentile(lag, 0.5):.1f} ms, '
              f'p99 {1000 * percentile(lag, 0.99):.1f} ms, max {1000 * max(lag, default=float("nan")):.1f} ms '
              f'({len(lag)} probes)')


def summary(values: list[float]) -> str:
    return f'median {statistics.median(values):.3f} (rounds: {", ".join(f"{v:.3f}" for v in values)})'


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'serve':
        serve(sys.argv[2:])
    else:
        main()
