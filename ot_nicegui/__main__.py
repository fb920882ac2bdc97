"""Entry point: `python -m ot_nicegui`."""
from nicegui import ui


def main() -> None:
    @ui.page('/')
    def index() -> None:
        ui.label('OT NiceGUI')

    ui.run(host='127.0.0.1', port=8080, title='OT NiceGUI', reload=False, show=False)


if __name__ in {'__main__', '__mp_main__'}:
    main()
