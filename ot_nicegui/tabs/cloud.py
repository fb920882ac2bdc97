"""The Cloud tab: the settings, the remote machine's host key (shown, then trusted on confirmation),
and Reattach to a remote run that is still going."""
from __future__ import annotations

from nicegui import run, ui

from ot_nicegui.tabs._schema_tab import render_schema_tab
from ot_nicegui.tabs.context import TabContext


def render(ctx: TabContext) -> None:
    from ot_nicegui.dialogs.runpod_gpus import gpu_types_button

    render_schema_tab(ctx, 'cloud', extras={'cloud.gpu_type': lambda: gpu_types_button(ctx.config)})
    with ui.row().classes('items-center gap-2').mark('cloud-runpod-note'):
        ui.label('New machine and the actions when the run ends apply to RunPod pods only (Stop or Delete '
                 'the pod through the RunPod API); a LINUX machine is left as it is.').classes('text-caption')
        ui.link('Create a pod on RunPod\'s website', 'https://www.runpod.io/console/deploy', new_tab=True) \
            .classes('text-caption')
    try:
        import modules.cloud.connection as connection
    except ImportError:  # the `cloud` extra (paramiko) is not installed
        ui.label('Training over SSH needs the cloud extra: pip install ".[cloud]"').mark('cloud-missing')
        return
    connection.default_data_dir = ctx.session.data_dir  # where the trainer looks for trusted keys
    with ui.card().classes('w-full').mark('cloud-host-key'):
        _host_key(ctx, connection)
    with ui.row().classes('items-center gap-2'):
        ui.button('Reattach', icon='link', on_click=lambda: _reattach(ctx)).mark('cloud-reattach') \
            .tooltip('Follow the remote run of this run id that is still going')


def _host_key(ctx: TabContext, connection) -> None:
    from modules.cloud.errors import CloudError

    ui.label('Host key').classes('text-subtitle1')
    shown = ui.label('Check the remote machine\'s host key before its first run.').mark('cloud-host-key-text')
    found: dict = {}

    def where():
        secrets = ctx.config.secrets.cloud
        return secrets.host, int(secrets.port or 22)

    async def check() -> None:
        host, port = where()
        if not host:
            shown.set_text('Set the host first.')
            return
        try:
            key = await run.io_bound(connection.fetch_host_key, host, port)
        except CloudError as exc:
            shown.set_text(str(exc))
            trust.set_visibility(False)
            return
        found.update(host=host, port=port, key=key)
        trusted = connection.is_trusted(host, port, key, connection.known_hosts_path(ctx.session.data_dir))
        shown.set_text(f'{host}:{port} {key.get_name()} {connection.fingerprint(key)} — '
                       + ('trusted' if trusted else 'not trusted yet: compare it with the machine\'s own, then trust it'))
        trust.set_visibility(not trusted)

    def trust_key() -> None:
        if (found.get('host'), found.get('port')) != where():
            shown.set_text('The host changed: check its key again.')
            trust.set_visibility(False)
            return
        connection.trust_host_key(found['host'], found['port'], found['key'],
                                  connection.known_hosts_path(ctx.session.data_dir))
        shown.set_text(f'{found["host"]}:{found["port"]} {found["key"].get_name()} '
                       f'{connection.fingerprint(found["key"])} — trusted')
        trust.set_visibility(False)

    with ui.row().classes('items-center gap-2'):
        ui.button('Check host key', icon='fingerprint', on_click=check).mark('cloud-check-host-key')
        trust = ui.button('Trust this key', icon='verified_user', on_click=trust_key).mark('cloud-trust-host-key')
        trust.set_visibility(False)


def _reattach(ctx: TabContext) -> None:
    from ot_nicegui.messages import plain_error
    from ot_nicegui.state.training_session import StartRefused

    config = ctx.config
    if not (config.cloud.enabled and config.cloud.type.name in ('LINUX', 'RUNPOD')):
        ui.notify('Reattach follows a cloud run: turn Enabled on and choose LINUX or RUNPOD', type='warning')
        return
    try:
        ctx.feed.session.start(config, ctx.session.data_dir, reattach=True)
    except StartRefused as exc:
        ui.notify(f'Cannot reattach: {plain_error(str(exc))}', type='warning')
