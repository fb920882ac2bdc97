"""Run-end notifications in the page: the webhook setting and the browser's own notifications."""
from __future__ import annotations

import json

from nicegui import ui

from ot_nicegui.state.notifications import Notifier, get_notifier
from ot_nicegui.widgets.live_chart import follow

_ASK_PERMISSION = '''
if (!('Notification' in window)) { return 'unsupported'; }
return await Notification.requestPermission();
'''


def show_browser_notifications(owner: ui.element) -> None:
    """While `owner`'s page is open, a run's end shows a browser notification (where allowed)."""
    def notify(body: dict) -> None:
        title, text = json.dumps(body['title']), json.dumps(body['text'])
        owner.client.run_javascript(
            "if ('Notification' in window && Notification.permission === 'granted') "
            f"{{ new Notification({title}, {{body: {text}}}); }}")

    follow(get_notifier().run_ended, owner, notify)


class NotificationsPanel:
    def __init__(self, notifier: Notifier):
        self.notifier = notifier
        with ui.expansion('Notifications', icon='notifications').classes('w-full').mark('notifications'):
            ui.label('When a run finishes, stops or fails, the app posts a JSON message to this address '
                     '(chat services and automation tools accept such webhooks).').classes('text-sm')
            with ui.row().classes('w-full items-start gap-2'):
                self.url = ui.input('Webhook URL', value=notifier.webhook_url, placeholder='https://…') \
                    .props('dense clearable').classes('grow').mark('webhook-url')
                ui.button('Save', on_click=self.save).props('outline no-caps').mark('webhook-save')
                ui.button('Send a test', on_click=self.test).props('flat no-caps').mark('webhook-test')
            ui.button('Allow browser notifications', icon='notifications_active', on_click=self.ask) \
                .props('flat no-caps').mark('browser-notifications') \
                .tooltip('Open pages of this app show a notification when a run ends')

    def save(self) -> None:
        try:
            self.notifier.set_webhook(self.url.value or '')
        except ValueError as exc:
            reason = str(exc)
            ui.notify(reason[:1].upper() + reason[1:], type='negative')
            return
        ui.notify('Webhook saved' if self.notifier.webhook_url else 'Webhook removed', type='positive')

    def test(self) -> None:
        self.save()
        if self.notifier.send({'event': 'test', 'title': 'Test message', 'text': 'Notifications from OT NiceGUI work.'}):
            ui.notify('Test message sent (failures are retried in the background and logged)')

    async def ask(self) -> None:
        answer = await ui.run_javascript(_ASK_PERMISSION, timeout=60)
        ui.notify({'granted': 'Browser notifications are on',
                   'denied': 'The browser blocks notifications for this site: allow them in its site settings',
                   'unsupported': 'This browser has no notifications'}.get(answer, 'Browser notifications are off'))


def notifications_panel() -> NotificationsPanel:
    return NotificationsPanel(get_notifier())
