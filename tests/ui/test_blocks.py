"""The page as gradio builds it, under whichever gradio is installed (3.41 for A1111, 4.x for Forge
and the standalone app): tabs, every generation parameter with its help text, the event API,
the assets, and what a WebUI may save to ui-config.json."""

from __future__ import annotations

from dataclasses import fields

import gradio as gr
import pytest

from sonic_ext import Settings, SonicService
from sonic_ext.adapters.ui import build_ui
from sonic_ext.adapters.ui.compat import GRADIO_MAJOR
from sonic_ext.adapters.ui.generate import PARAM_ORDER
from sonic_ext.contracts import PARAM_HELP, GenerationParams

# What AUTOMATIC1111 and Forge write to ui-config.json: the value of every labelled input of these
# types, unless the component says not to (modules/ui_loadsave.py, research/webui.md §2.1).
SAVED_TYPES = (gr.Slider, gr.Radio, gr.Checkbox, gr.Textbox, gr.Number, gr.Dropdown)
SAFETY_INPUTS = ("sonic_purpose", "sonic_consents", "sonic_admin_token", "sonic_consent_name",
                 "sonic_consent_purposes", "sonic_consent_expires", "sonic_consent_grantees",
                 "sonic_consent_subject", "sonic_amend_id", "sonic_amend_purposes",
                 "sonic_amend_expires", "sonic_amend_grantees", "sonic_revoke_id",
                 "sonic_revoke_reason", "sonic_hf_token")


def components(ui: gr.Blocks) -> dict[str, gr.components.Component]:
    return {block.elem_id: block for block in ui.blocks.values() if block.elem_id}


def saved_to_ui_config(ui: gr.Blocks) -> set[str]:
    return {block.elem_id for block in ui.blocks.values()
            if isinstance(block, SAVED_TYPES) and block.label
            and not getattr(block, "do_not_save_to_config", False)}


@pytest.fixture
def webui_service(tmp_path) -> SonicService:
    settings = Settings.from_environment({}, home=tmp_path / "home", host="webui")
    settings.ensure_dirs()
    return SonicService(settings)


def test_every_tab_and_every_generation_parameter_is_there(service: SonicService) -> None:
    built = components(build_ui(service))
    for tab in ("generate", "history", "consent", "verify", "models"):
        assert f"sonic_tab_{tab}" in built
    assert set(PARAM_ORDER) == {f.name for f in fields(GenerationParams)}
    for name in PARAM_ORDER:
        widget = built[f"sonic_{name}"]
        assert widget.info == PARAM_HELP[name], name
        assert widget.value == getattr(GenerationParams(), name), name


def test_the_buttons_are_named_endpoints_and_generate_keeps_its_first_arguments(
        service: SonicService) -> None:
    ui = build_ui(service)
    config = ui.get_config_file()
    named = {d["api_name"]: d for d in config["dependencies"] if d.get("api_name")}
    assert set(named) == {"generate", "cancel", "consents_granted", "verify", "consent_add",
                          "consent_amend", "consent_list", "consent_revoke", "audit_verify",
                          "models_status", "models_download", "gpu_memory", "batch", "sync_check"}
    ids = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    generate_inputs = [ids[i] for i in named["generate"]["inputs"]]
    assert generate_inputs == ["sonic_portrait", "sonic_speech", "sonic_purpose",
                               *(f"sonic_{name}" for name in PARAM_ORDER), "sonic_consents"]
    assert named["cancel"]["queue"] is False  # answers while the generation holds the queue


def test_the_consent_picker_loads_with_the_page_and_the_tab(service: SonicService) -> None:
    """The pickers (consents, purposes) are filled for whoever opened the page: on load, on
    the tab, on Refresh."""
    config = build_ui(service).get_config_file()
    ids = {c["id"]: c["props"].get("elem_id") for c in config["components"]}
    picker = next(c for c in config["components"] if c["props"].get("elem_id") == "sonic_consents")
    assert picker["props"]["multiselect"] is True and picker["props"]["choices"] == []

    def fills_the_picker(dep: dict) -> bool:
        return [ids[i] for i in dep["outputs"]] == ["sonic_consents", "sonic_purpose",
                                                    "sonic_granted_table"]

    triggers = set()  # (elem_id, event): 4.x lists (id, event) targets, 3.41 ids and a trigger
    for dep in filter(fills_the_picker, config["dependencies"]):
        if not dep["targets"]:  # gradio 3.41: a page load has a trigger and no target
            triggers.add((None, dep["trigger"]))
        for target in dep["targets"]:
            target_id, event = target if isinstance(target, (list, tuple)) else \
                (target, dep["trigger"])
            triggers.add((ids.get(target_id), event))
    assert triggers >= {("sonic_consents_refresh", "click"), ("sonic_tab_generate", "select")}
    assert any(event == "load" for _, event in triggers), triggers


def test_safety_inputs_are_never_saved_to_the_webui_ui_config(webui_service: SonicService
                                                              ) -> None:
    ui = build_ui(webui_service)
    built = components(ui)
    for elem_id in SAFETY_INPUTS:
        assert built[elem_id].do_not_save_to_config is True, elem_id
    # Nothing is left for ui-config.json: the starting parameters are the default preset's
    # (WebUI Settings), which a pinned copy there would silently override.
    assert saved_to_ui_config(ui) == set()


def test_secrets_are_password_boxes(service: SonicService) -> None:
    built = components(build_ui(service))
    assert built["sonic_admin_token"].type == "password"
    assert built["sonic_hf_token"].type == "password"


def test_the_standalone_page_carries_the_scripts_and_styles_a_webui_injects_itself(
        service: SonicService, webui_service: SonicService) -> None:
    standalone, tab = build_ui(service), build_ui(webui_service)
    assert "#sonic_root" in standalone.css and not tab.css
    if GRADIO_MAJOR >= 4:
        assert "window.sonicUi" in standalone.head and not tab.head


def test_the_consent_tab_says_when_consent_changes_are_disabled(service: SonicService) -> None:
    assert service.settings.admin_token is None
    assert "sonic_consent_disabled" in components(build_ui(service))
