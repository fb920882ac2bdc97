"""Training speed inside the UI against the command line, and the UI's event-loop lag meanwhile.

    .venv/bin/python bench/ui_training_speed.py [--epochs 8] [--clients 1 20]

One tiny SD 1.5 LoRA config is trained three ways: by `python -m modules.cli.train`, and by the
app (`python -m ot_nicegui` with a lag probe added) while 1 and then 20 headless Chromium pages
watch its Run tab (`--clients 0` adds a run watched by no browser). Steps/s come from the run's own TensorBoard file (wall time of the first and
last `loss/train_step`), so start-up and model loading do not count. Event-loop lag is how late
a 10 ms sleep on the app's loop wakes up while the run is going (p50/p99/max).

Prints ratios (UI ÷ CLI; goals ≥ 0.99 with one browser, ≥ 0.97 with 20) and the lag (goal:
p99 < 50 ms). On a small machine the browsers share the CPU with the trainer; read the ratios
with that in mind. Never asserted by tests.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROBE_SLEEP = 0.01
CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                 '--disable-background-networking', '--disable-component-update', '--disable-sync',
                 '--no-first-run']


# ---- the app with a lag probe (this file re-runs itself as the server) ---------------------------
def serve(argv: list[str]) -> None:
    from nicegui import app, background_tasks

    from ot_nicegui.__main__ import main
    from ot_nicegui.state.training_session import Phase, get_training_session

    lags: list[float] = []

    async def probe() -> None:
        session = get_training_session()
        while True:
            start = time.perf_counter()
            await asyncio.sleep(PROBE_SLEEP)
            if session.phase == Phase.RUNNING:
                lags.append(time.perf_counter() - start - PROBE_SLEEP)

    app.on_startup(lambda: background_tasks.create(probe(), name='lag probe'))

    @app.get('/bench/state')
    def state() -> dict:
        session = get_training_session()
        outcome = session.last_outcome
        return {'phase': session.phase.value, 'outcome': outcome.value if outcome else None,
                'step': session.progress.global_step, 'lags': lags}

    @app.post('/bench/start')
    def start() -> dict:  # for a run watched by no browser at all
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
    path = workspace.with_suffix('.json')
    path.write_text(json.dumps(data))
    return path


def steps_per_second(workspace: Path) -> tuple[float, int]:
    from ot_nicegui.tb_reader import list_runs, read_scalars

    logdir = workspace / 'tensorboard'
    runs = list_runs(logdir)
    if not runs:
        raise RuntimeError(f'no TensorBoard run in {logdir}')
    series = read_scalars(logdir / runs[0])['loss/train_step']
    times = series.wall_times
    return (len(times) - 1) / (times[-1] - times[0]), len(times)


def env() -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != 'PYTEST_CURRENT_TEST'}
    environment['PYTHONPATH'] = os.pathsep.join(filter(None, [str(ROOT), environment.get('PYTHONPATH')]))
    return environment


# ---- the three runs ----------------------------------------------------------------------------------
def run_cli(config: Path, work: Path) -> float:
    workspace = work / 'ws-cli'
    cfg = with_workspace(config, workspace)
    subprocess.run([sys.executable, '-m', 'modules.cli.train', '--config-path', str(cfg)], cwd=work, env=env(),
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rate, steps = steps_per_second(workspace)
    print(f'CLI:               {rate:.3f} steps/s ({steps} steps)', flush=True)
    return rate


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def run_ui(config: Path, work: Path, clients: int) -> tuple[float, list[float]]:
    from playwright.sync_api import sync_playwright

    from ot_nicegui.tb_reader import _free_port

    workspace = work / f'ws-ui{clients}'
    cfg = with_workspace(config, workspace)
    data = work / f'data-ui{clients}'
    data.mkdir()
    port = _free_port('127.0.0.1')
    log = (work / f'app-{clients}.log').open('w')
    server = subprocess.Popen([sys.executable, __file__, 'serve', '--port', str(port), '--data-dir', str(data),
                               '--config', str(cfg)], cwd=work, env=env(), stdout=log, stderr=subprocess.STDOUT)
    url = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                _get(url + '/bench/state')
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError('the app did not start') from None
                time.sleep(0.2)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=os.environ.get('CHROMIUM', '/usr/bin/chromium'),
                                         args=CHROMIUM_ARGS)
            pages = []
            for _ in range(clients):
                page = browser.new_context(viewport={'width': 1280, 'height': 900}).new_page()
                page.goto(url + '/?tab=run')
                pages.append(page)
            if pages:
                pages[0].get_by_role('button', name='Start training').click()
            else:
                urllib.request.urlopen(urllib.request.Request(url + '/bench/start', method='POST'), timeout=30)
            while True:
                state = _get(url + '/bench/state')
                if state['outcome']:
                    break
                time.sleep(0.5)
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
        log.close()
    if state['outcome'] != 'finished':
        raise RuntimeError(f'the UI run ended {state["outcome"]}; see {log.name}')
    rate, steps = steps_per_second(workspace)
    print(f'UI, {clients:2d} browser(s): {rate:.3f} steps/s ({steps} steps)', flush=True)
    return rate, state['lags']


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float('nan')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--epochs', type=int, default=8)
    parser.add_argument('--images', type=int, default=8)
    parser.add_argument('--clients', type=int, nargs='+', default=[1, 20])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        config = prepare(work, args.images, args.epochs)
        cli = run_cli(config, work)
        results = {clients: run_ui(config, work, clients) for clients in args.clients}
    print()
    for clients, (rate, lags) in results.items():
        print(f'ratio UI/CLI with {clients:2d} browser(s): {rate / cli:.3f}    event-loop lag while training: '
              f'p50 {1000 * percentile(lags, 0.5):.1f} ms, p99 {1000 * percentile(lags, 0.99):.1f} ms, '
              f'max {1000 * max(lags, default=float("nan")):.1f} ms ({len(lags)} probes)')


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'serve':
        serve(sys.argv[2:])
    else:
        main()
