"""The command line: help lists everything, bad input exits 2 naming the argument, --json is one
object on stdout, unexpected errors are one line unless --debug."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sonic_ext import __version__
from sonic_ext.adapters import cli

ALL_COMMANDS = ["serve", "generate", "batch", "verify", "consent", "add", "amend", "check", "list",
                "show", "revoke",
                "audit-verify", "audit-export", "adopt-unsigned", "models", "status", "memory", "download", "make-tiny", "keys", "init",
                "dev", "golden-check", "demo", "sync-check", "worker"]


def run(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str, str]:
    code = cli.main(["--home", str(home), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_module_help_lists_every_command_and_action() -> None:
    done = subprocess.run([sys.executable, "-m", "sonic_ext", "--help"], capture_output=True,
                          text=True, check=True)
    for name in ALL_COMMANDS:
        assert name in done.stdout, name
    assert "exit codes: 0 success, 2 bad input" in " ".join(done.stdout.split())


@pytest.mark.parametrize("command", [
    ["serve"], ["generate"], ["batch"], ["verify"], ["consent", "add"], ["consent", "amend"],
    ["consent", "check"], ["consent", "list"],
    ["consent", "show"], ["consent", "revoke"], ["consent", "audit-verify"],
    ["consent", "audit-export"], ["consent", "adopt-unsigned"], ["models", "status"], ["models", "memory"],
    ["models", "download"], ["models", "make-tiny"], ["models", "keys"], ["keys", "init"],
    ["keys", "show"], ["dev", "golden-check"], ["demo"], ["sync-check"], ["worker"]])
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main([*command, "--help"])
    assert done.value.code == 0
    assert "usage: sonic-ext " + " ".join(command) in capsys.readouterr().out


def test_a_worker_without_a_queue_says_what_it_needs(capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SONIC_QUEUE_URL", raising=False)
    code, _, err = run(capsys, tmp_path, "worker")
    assert code == 2
    assert "--queue: a worker needs the queue's PostgreSQL URL" in err


def test_generate_help_shows_every_parameter_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        cli.main(["generate", "--help"])
    text = capsys.readouterr().out
    for flag in ("--image", "--audio", "--out", "--purpose", "--seed", "--steps",
                 "--dynamic-scale", "--min-resolution", "--expand-ratio", "--no-crop",
                 "--no-interpolate", "--models-dir", "--device", "--dtype", "--json"):
        assert flag in text, flag


@pytest.mark.parametrize(("args", "message"), [
    (["generate", "--audio", "a.wav", "--out", "o.mp4"], "the following arguments are required: --image"),
    (["generate", "--image", "i.png", "--audio", "a.wav", "--out", "o.mp4", "--steps", "many"],
     "argument --steps: invalid int value: 'many'"),
    (["generate", "--image", "i.png", "--audio", "a.wav", "--out", "o.mp4", "--dtype", "fp8"],
     "argument --dtype: invalid choice: 'fp8'"),
    (["serve", "--port", "70000"], "argument --port: must be a port number from 1 to 65535"),
    (["serve", "--api-auth", "alice"], "argument --api-auth: expected USER:PASS pairs"),
    (["serve", "--admin-token", " "], "argument --admin-token: must not be empty"),
    (["models", "keys", "--component", "vae"], "argument --component: invalid choice: 'vae'"),
    (["consent", "revoke", "c1"], "the following arguments are required: --reason"),
    (["nonsense"], "argument COMMAND: invalid choice: 'nonsense'"),
    (["serve", "--queue", "sqlite:///q.db"], "argument --queue: queue mode needs a PostgreSQL"),
    (["worker", "--queue", "postgresql://db/sonic", "--device", "gpu"],
     "argument --device: must be auto, cpu, cuda or cuda:N, got 'gpu'"),
    (["worker", "--queue", "postgresql://db/sonic", "--stall-timeout", "0"],
     "argument --stall-timeout: must be a number of seconds above 0"),
])
def test_usage_errors_exit_2_and_name_the_argument(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, args: list[str],
                                                   message: str) -> None:
    code, out, err = run(capsys, tmp_path, *args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "usage: sonic-ext" in err


def test_bad_generate_inputs_exit_2_naming_the_flag(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path, portrait: Path,
                                                    speech_wav: Path) -> None:
    base = ["generate", "--image", str(portrait), "--audio", str(speech_wav),
            "--out", str(tmp_path / "o.mp4")]
    cases = [
        (["--steps", "0"], "error: --steps: must be between 1 and 100, got 0"),
        (["--min-resolution", "100"], "error: --min-resolution: must be between 256 and 2048"),
        (["--min-resolution", "300"], "error: --min-resolution: must be a multiple of 64"),
        (["--dynamic-scale", "-1"], "error: --dynamic-scale: must be in (0.0, 10.0]"),
        (["--purpose", "two words"], "error: --purpose: 'two words' is not a label"),
    ]
    for extra, message in cases:
        code, _, err = run(capsys, tmp_path, *base, *extra)
        assert code == 2 and message in err, err
    code, _, err = run(capsys, tmp_path, "generate", "--image", str(tmp_path / "nope.png"),
                       "--audio", str(speech_wav), "--out", str(tmp_path / "o.mp4"))
    assert code == 2 and "error: --image: file not found" in err


def test_json_errors_are_one_object_on_stdout(capsys: pytest.CaptureFixture[str],
                                              tmp_path: Path, speech_wav: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "generate", "--json", "--image", "missing.png",
                       "--audio", str(speech_wav), "--out", str(tmp_path / "o.mp4"))
    assert code == 2
    assert json.loads(out) == {"error": {"code": "bad_input", "field": "--image",
                                         "message": "--image: file not found: missing.png",
                                         "exit_code": 2}}
    code, out, _ = run(capsys, tmp_path, "models", "keys", "--json", "--component", "bogus")
    assert code == 2 and json.loads(out)["error"]["exit_code"] == 2


def test_generate_without_a_claimed_consent_exits_2_saying_what_to_do(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, portrait: Path,
        speech_wav: Path) -> None:
    out_file = tmp_path / "o.mp4"
    code, out, err = run(capsys, tmp_path, "generate", "--image", str(portrait), "--audio",
                         str(speech_wav), "--out", str(out_file), "--seed", "0")
    assert code == 2
    assert out == ""
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: --consent: name the consent this video relies on")
    assert "generate --consent ID" in last
    assert not out_file.exists()
    code, out, err = run(capsys, tmp_path, "generate", "--image", str(portrait), "--audio",
                         str(speech_wav), "--out", str(out_file), "--consent", "con_nobody")
    assert code == 2 and "error: --consent: no consent with id 'con_nobody'" in err


def test_models_status_json_is_one_object(capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "--models-dir", str(tmp_path / "m"), "models",
                       "status", "--json")
    assert code == 0
    report = json.loads(out)
    assert report["models_dir"] == str(tmp_path / "m")
    assert report["ready"] is False
    assert {f["state"] for f in report["files"]} == {"missing"}


def test_models_memory_estimates_each_offload_mode_before_anything_is_installed(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "--models-dir", str(tmp_path / "m"), "models",
                       "memory", "--min-resolution", "512", "--seconds", "10", "--json")
    assert code == 0
    report = json.loads(out)
    assert (report["width"], report["height"], report["dtype"]) == (512, 512, "fp16")
    assert "official model sizes" in report["sizes"] and report["gpu"] is None
    totals = {e["offload"]: e["total_bytes"] for e in report["estimates"]}
    assert totals["sequential"] < totals["model"] < totals["none"] < 16 * 1024 ** 3
    code, out, _ = run(capsys, tmp_path, "models", "memory", "--min-resolution", "512")
    assert code == 0
    assert "offload sequential about" in out and "no CUDA GPU" in out
    code, _, err = run(capsys, tmp_path, "models", "memory", "--seconds", "601")
    assert code == 2 and "--seconds: must be more than 0 and at most 600" in err


def test_generate_models_dir_flag_overrides_the_global_one(tmp_path: Path) -> None:
    args = cli.build_parser().parse_args(["--models-dir", "a", "generate", "--image", "i",
                                          "--audio", "a", "--out", "o.mp4", "--models-dir", "b"])
    assert args.models_dir == Path("b")
    args = cli.build_parser().parse_args(["--models-dir", "a", "generate", "--image", "i",
                                          "--audio", "a", "--out", "o.mp4"])
    assert args.models_dir == Path("a")


def test_keys_init_makes_development_credentials_and_show_never_prints_the_key(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, tmp_path, "keys", "init", "--json")
    made = json.loads(out)
    assert code == 0 and Path(made["root_certificate"]).is_file()
    key_files = list((tmp_path / "keys").glob("*key*"))
    assert key_files and all(p.stat().st_mode & 0o077 == 0 for p in key_files)
    code, out, _ = run(capsys, tmp_path, "keys", "show")
    assert code == 0
    assert "credentials: development credentials" in out
    assert "PRIVATE KEY" not in out and "BEGIN" not in out


def test_consent_add_checks_evidence_and_portraits_first(capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path, portrait: Path) -> None:
    empty = tmp_path / "release.pdf"
    empty.touch()
    code, _, err = run(capsys, tmp_path, "consent", "add", "--name", "Ann", "--portrait",
                       str(portrait), "--evidence", str(empty))
    assert code == 2 and "the following arguments are required: --grantee" in err
    code, _, err = run(capsys, tmp_path, "consent", "add", "--name", "Ann", "--portrait",
                       str(portrait), "--evidence", str(empty), "--grantee", "any")
    assert code == 2 and "error: --evidence: file is empty" in err
    code, _, err = run(capsys, tmp_path, "consent", "add", "--name", "Ann", "--portrait",
                       str(tmp_path / "none.jpg"), "--evidence", str(portrait), "--grantee",
                       "any")
    assert code == 2 and "error: --portrait: file not found" in err
    code, _, err = run(capsys, tmp_path, "consent", "add", "--name", "Ann", "--portrait",
                       str(portrait), "--evidence", str(portrait), "--expires", "next year",
                       "--grantee", "any")
    assert code == 2 and "argument --expires: not an ISO 8601 date" in err


def test_internal_errors_are_one_line_unless_debug(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(_service: object) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(cli.SonicService, "models_status", explode)
    code, _, err = run(capsys, tmp_path, "models", "status")
    assert code == 1
    assert err.strip() == ("error: internal error: RuntimeError: disk on fire "
                           "(run with --debug for the traceback)")
    code, _, err = run(capsys, tmp_path, "--debug", "models", "status")
    assert code == 1 and "Traceback (most recent call last)" in err
    log_text = (tmp_path / "logs" / "sonic.log").read_text()
    assert "internal error" in log_text and "disk on fire" in log_text


def test_version_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"sonic-ext {__version__}"


def test_an_invalid_policy_stops_every_command_with_exit_2(capsys: pytest.CaptureFixture[str],
                                                           tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[generation]\nmax_audio_seconds = -5\n")
    monkeypatch.setenv("SONIC_POLICY", str(policy))
    code, _, err = run(capsys, tmp_path, "models", "status")
    assert code == 2
    assert "generation.max_audio_seconds" in err and "less than or equal to the minimum" in err


def test_a_missing_optional_package_is_named_with_the_extra_to_install(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def without_c2pa(_service: object) -> None:
        raise ModuleNotFoundError("No module named 'c2pa'", name="c2pa")

    monkeypatch.setattr(cli.SonicService, "credentials", without_c2pa)
    code, _, err = run(capsys, tmp_path, "keys", "show")
    assert code == 1
    assert err.strip() == ("error: this command needs the Python package 'c2pa', which is not "
                           "installed (pip install 'sd-webui-sonic[ml,identity,provenance]')")
