"""A faithful stand-in for the few WebUI host modules we use (AUTOMATIC1111 1.10 / Forge).

Only what `sonic_ext.webui` touches, with the hosts' names and call conventions
(research/webui.md §1-§4): callbacks are registered per script load and invoked by the host.
"""
