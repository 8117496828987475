"""A faithful stand-in for the few WebUI host modules we use (AUTOMATIC1111 1.10.1 / Forge).

Only what `sonic_ext.adapters.webui` touches, with the hosts' names, signatures and attribute meanings,
read from A1111 v1.10.1 and Forge dfdcbab6 (research/webui.md §1-§7): callbacks are registered
per script load and invoked by the host; GPU jobs take `call_queue.queue_lock` and report through
`shared.state`; `shared.sd_model` loads a checkpoint on first access. Forge's extra modules
(`modules_forge`, `backend.memory_management`) live in ../../fake_forge.
"""
