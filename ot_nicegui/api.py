"""The REST API under /api/: the job queue, the run's status and samples, for scripts.

When the app has a password, every route but `POST /api/login` and the API's own description wants
`Authorization: Bearer <token>`; a token comes from logging in with the password or from the
Run tab's token list, and is stored hashed. Without a password (this machine only, or `--no-auth`)
the API is as open as the pages. The description is served offline at /api/docs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from ot_nicegui.auth import Authenticator
from ot_nicegui.state.job_queue import JobQueue
from ot_nicegui.state.job_store import JobError
from ot_nicegui.state.training_session import TrainingSession

PREFIX = '/api'
DOCS_ASSETS = f'{PREFIX}/docs-assets'
TITLE = 'OT NiceGUI API'


class LoginRequest(BaseModel):
    password: str
    name: str = Field('', description='a name for the token, shown in the token list')


class JobRequest(BaseModel):
    config: dict[str, Any] = Field(description='a config with its concepts and samples inlined (an exported config)')
    name: str = ''


class MoveRequest(BaseModel):
    position: int = Field(ge=0, description='the new place in the list, 0 = first')


def create_router(queue: JobQueue, authenticator: Authenticator | None) -> APIRouter:
    session: TrainingSession = queue.session
    store = queue.store

    def require_token(authorization: str | None = Header(default=None)) -> None:
        if authenticator is None:
            return
        scheme, _, token = (authorization or '').partition(' ')
        if scheme.lower() != 'bearer' or not store.check_token(token.strip()):
            raise HTTPException(401, 'a valid API token is required (POST /api/login)',
                                headers={'WWW-Authenticate': 'Bearer'})

    open_router = APIRouter(prefix=PREFIX, tags=['access'])
    # routes that touch the queue run on the event loop (async), where the session and the pages live
    router = APIRouter(prefix=PREFIX, dependencies=[Depends(require_token)])

    @open_router.post('/login', summary='Trade the app password for an API token')
    def login(body: LoginRequest, request: Request) -> dict:
        if authenticator is None:
            raise HTTPException(400, 'this app has no password: the API needs no token')
        address = request.client.host if request.client else 'unknown'
        accepted, message = authenticator.attempt(address, body.password)
        if not accepted:
            raise HTTPException(429 if message.startswith('Too many') else 401, message)
        info, token = store.create_token(body.name or f'login from {address}')
        return {'token': token, 'id': info.id}

    # ---- jobs -----------------------------------------------------------------------------------------
    def listing() -> dict:
        return {'running': queue.running, 'current': queue.current, 'jobs': [j.summary() for j in store.jobs()]}

    @router.get('/jobs', tags=['jobs'], summary='The queue: every job in order, and whether it runs')
    async def jobs() -> dict:
        return listing()

    @router.post('/jobs', tags=['jobs'], status_code=201, summary='Add a config as a job at the end of the queue')
    async def add_job(body: JobRequest) -> dict:
        return queue.add(body.config, body.name).summary()

    @router.get('/jobs/{job_id}', tags=['jobs'], summary='One job, with its config')
    async def job(job_id: int) -> dict:
        found = store.get(job_id)
        return found.summary() | {'config': found.config}

    @router.delete('/jobs/{job_id}', tags=['jobs'], summary='Remove a job that is not running')
    async def remove_job(job_id: int) -> dict:
        queue.remove(job_id)
        return listing()

    @router.post('/jobs/{job_id}/move', tags=['jobs'], summary='Move a job to another place in the queue')
    async def move_job(job_id: int, body: MoveRequest) -> dict:
        queue.move(job_id, body.position)
        return listing()

    @router.post('/jobs/{job_id}/start', tags=['jobs'], summary='Start this queued job now (the trainer must be free)')
    async def start_job(job_id: int) -> dict:
        return queue.run_now(job_id).summary()

    @router.post('/jobs/{job_id}/stop', tags=['jobs'], summary='Stop the running job (it saves first)')
    async def stop_job(job_id: int) -> dict:
        queue.stop(job_id)
        return store.get(job_id).summary()

    @router.post('/jobs/{job_id}/resume', tags=['jobs'],
                 summary='Queue a stopped, failed or interrupted job again, from its last backup')
    async def resume_job(job_id: int) -> dict:
        return queue.resume(job_id).summary()

    @router.post('/queue/start', tags=['queue'], summary='Run the queued jobs one after another')
    async def start_queue() -> dict:
        queue.start()
        return listing()

    @router.post('/queue/pause', tags=['queue'], summary='Take no further job (a running one goes on)')
    async def pause_queue() -> dict:
        queue.pause()
        return listing()

    # ---- the run ----------------------------------------------------------------------------------------
    @router.get('/status', tags=['run'], summary='Phase, progress and outcome of the current or last run')
    async def status() -> dict:
        p = session.progress
        summary = session.summary
        return {
            'phase': session.phase.value, 'status': session.status, 'job': queue.current,
            'progress': {'epoch': p.epoch, 'max_epoch': p.max_epoch, 'epoch_step': p.epoch_step,
                         'max_step': p.max_step, 'global_step': p.global_step,
                         'it_per_second': p.it_per_second, 'eta_seconds': p.eta_seconds},
            'run': None if summary is None else {
                'id': summary.run_id, 'model_type': summary.model_type, 'training_method': summary.training_method,
                'started_at': summary.started_at, 'ended_at': summary.ended_at,
                'outcome': None if summary.outcome is None else summary.outcome.value, 'error': summary.error},
        }

    @router.get('/samples', tags=['run'], summary='The samples of the current or last run, newest last')
    async def samples(limit: int = 20) -> list[dict]:
        records = session.samples[-max(1, min(limit, 500)):]
        first = len(session.samples) - len(records)
        return [{'index': first + i, 'step': r.step, 'epoch': r.epoch, 'prompt': r.prompt, 'custom': r.custom,
                 'url': f'{PREFIX}/samples/{first + i}/file'} for i, r in enumerate(records)]

    @router.get('/samples/{index}/file', tags=['run'], summary='One sample file')
    async def sample_file(index: int) -> FileResponse:
        if not 0 <= index < len(session.samples) or session.workspace_root is None:
            raise HTTPException(404, f'there is no sample {index}')
        root = session.workspace_root.resolve()
        path = (root / session.samples[index].path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            raise HTTPException(404, f'sample {index} is no longer on disk')
        return FileResponse(path)

    # ---- its own description, served without the internet ---------------------------------------------
    @open_router.get('/openapi.json', include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(get_openapi(title=TITLE, version='1', routes=[*open_router.routes, *router.routes],
                                        description=__doc__))

    @open_router.get('/docs', include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get('root_path', '')
        return get_swagger_ui_html(openapi_url=f'{root}{PREFIX}/openapi.json', title=TITLE,
                                   swagger_js_url=f'{root}{DOCS_ASSETS}/swagger-ui-bundle.js',
                                   swagger_css_url=f'{root}{DOCS_ASSETS}/swagger-ui.css',
                                   swagger_favicon_url=f'{root}/favicon.ico')

    combined = APIRouter()
    combined.include_router(open_router)
    combined.include_router(router)
    return combined


_STATUS_OF = {'missing': 404, 'invalid': 400, 'conflict': 409}


def _job_error(_request: Request, exc: JobError) -> JSONResponse:
    return JSONResponse({'detail': str(exc)}, status_code=_STATUS_OF.get(exc.kind, 409))


def _config_error(_request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({'detail': str(exc)}, status_code=400)


def install(target: FastAPI, queue: JobQueue, authenticator: Authenticator | None) -> None:
    """Add the API, its error answers and the offline documentation assets to `target`."""
    from swagger_ui_bundle import swagger_ui_path

    from modules.config.base import ConfigError

    target.include_router(create_router(queue, authenticator))
    target.add_exception_handler(JobError, _job_error)
    target.add_exception_handler(ConfigError, _config_error)
    target.mount(DOCS_ASSETS, StaticFiles(directory=Path(swagger_ui_path)), name='api-docs-assets')
