"""Like modules/script_callbacks.py: registration lists and the host-side invokers.

As in the hosts, an exception inside a callback is printed and the callback's result dropped,
which is how a tab "silently disappears".
"""

import traceback

callbacks_ui_tabs = []
callbacks_ui_settings = []
callbacks_after_component = []
callbacks_app_started = []


def clear_callbacks():
    callbacks_ui_tabs.clear()
    callbacks_ui_settings.clear()
    callbacks_after_component.clear()
    callbacks_app_started.clear()


def on_ui_settings(callback, *, name=None):
    callbacks_ui_settings.append(callback)


def on_after_component(callback, *, name=None):
    """Called after every component the host's UI creates, with its keyword arguments (the
    hosts patch gradio's Component.__init__ for it)."""
    callbacks_after_component.append(callback)


def on_ui_tabs(callback, *, name=None):
    callbacks_ui_tabs.append(callback)


def on_app_started(callback, *, name=None):
    callbacks_app_started.append(callback)


def ui_tabs_callback():
    res = []
    for callback in callbacks_ui_tabs:
        try:
            res += callback() or []
        except Exception:
            traceback.print_exc()
            print("Error executing callback ui_tabs_callback")
    return res


def ui_settings_callback():
    for callback in callbacks_ui_settings:
        try:
            callback()
        except Exception:
            traceback.print_exc()
            print("Error executing callback ui_settings_callback")


def after_component_callback(component, **kwargs):
    for callback in callbacks_after_component:
        try:
            callback(component, **kwargs)
        except Exception:
            traceback.print_exc()
            print("Error executing callback after_component_callback")


def app_started_callback(demo, app):
    for callback in callbacks_app_started:
        try:
            callback(demo, app)
        except Exception:
            traceback.print_exc()
            print("Error executing callback app_started_callback")
