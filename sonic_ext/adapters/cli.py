"""`python -m sonic_ext` / `sonic-ext`: the command line, a thin adapter over the service.

Exit codes: 0 success; 2 bad input or usage (the message names the argument); 3 refused by the
consent gate; 1 anything else (one line; the traceback only with --debug). With --json, stdout
carries exactly one JSON object, for errors too; progress and messages go to stderr.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import re
import sys
import textwrap
import traceback
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

from .._version import __version__
from ..consent.fields import KEEP, parse_expiry, split_labels
from ..consent.grantees import actor
from ..contracts import (
    DEFAULT_PURPOSE,
    FRAMING_PARAMS,
    GenerateRequest,
    GenerationParams,
)
from ..errors import InputError, NotAvailable, PortInUse, SonicError
from ..logging_setup import configure_logging
from ..parameters import ParamSpec, param_specs
from ..presets import resolve
from ..progress import ProgressEvent
from ..service import SonicService
from ..settings import (
    ENV_API_AUTH,
    LOG_LEVELS,
    Settings,
    parse_origins,
    read_secret_file,
)
from ..text import printable, printable_lines
from .api.users import parse_api_auth
from .queue import STALL_TIMEOUT_S

log = logging.getLogger(__name__)

# = sonic.components.COMPONENTS, spelled out here because importing that module loads torch
COMPONENTS = ("unet", "audio2token", "audio2bucket", "rife")
EPILOG = ("exit codes: 0 success, 2 bad input or usage, 3 refused by the consent gate, "
          "1 anything else")


class UsageError(InputError):
    """argparse's complaint, carried to `main` so it can honour --json and exit 2."""

    def __init__(self, message: str, usage: str) -> None:
        super().__init__("usage", message)
        self.message = message
        self.usage = usage


class _Formatter(argparse.HelpFormatter):
    """Wraps help text between words only: command names such as `adopt-unsigned` stay whole."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class _Parser(argparse.ArgumentParser):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(message, self.format_usage().strip())


@dataclass
class Outcome:
    """What a command produced: a JSON-able payload and the text a person reads."""

    payload: dict[str, Any]
    text: str
    exit_code: int = 0


# -- argument types (syntax only; ranges are checked once, in the service's request types) --------


def _port(value: str) -> int:
    port = int(value) if value.isdigit() else -1
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number from 1 to 65535, got {value!r}")
    return port


def _iso_datetime(value: str) -> datetime | None:
    """`--expires`: the one expiry rule of every surface (consent/fields.parse_expiry)."""
    try:
        return parse_expiry(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc.problem)) from None


def _api_users(value: str) -> dict[str, str]:
    try:
        return parse_api_auth(value)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def _origin(value: str) -> str:
    try:
        origins = parse_origins(value, "--api-cors-origin")
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None
    if len(origins) != 1:
        raise argparse.ArgumentTypeError("give one origin per --api-cors-origin")
    return origins[0]


def _api_users_file(value: str) -> dict[str, str]:
    try:
        text = read_secret_file(value, "--api-auth-file") or ""
        return parse_api_auth(",".join(text.splitlines()), "--api-auth-file")
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def _admin_token_file(value: str) -> str:
    try:
        return read_secret_file(value, "--admin-token-file") or ""
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def _queue_url(value: str) -> str:
    from .queue.engine import require_postgresql

    try:
        return require_postgresql(value, "--queue")
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.problem) from None


def _worker_device(value: str) -> str:
    """auto, cpu, cuda or cuda:N (one GPU of several: the worker sees only that one)."""
    if value in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", value):
        return value
    raise argparse.ArgumentTypeError(f"must be auto, cpu, cuda or cuda:N, got {value!r}")


def _positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < 86400:
        raise argparse.ArgumentTypeError(f"must be a number of seconds above 0, got {value!r}")
    return seconds


def _nonempty(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


# -- parser ---------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="sonic-ext", epilog=EPILOG,
                     description="Consent-gated, signed talking-head videos with Sonic.")
    parser.add_argument("--version", action="version", version=f"sonic-ext {__version__}")
    parser.add_argument("--home", type=Path, metavar="DIR",
                        help="SONIC_HOME: registry, keys, outputs, manifests, logs "
                             "(default: $SONIC_HOME or ~/.local/share/sonic)")
    parser.add_argument("--models-dir", type=Path, metavar="DIR",
                        help="model weights in the official layout "
                             "(default: $SONIC_MODELS_DIR or <home>/models)")
    parser.add_argument("--log-level", choices=LOG_LEVELS, type=str.upper,
                        help="log level for the log file (default: $SONIC_LOG_LEVEL or INFO)")
    parser.add_argument("--debug", action="store_true", help="print tracebacks on errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True,
                                     parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the standalone app (UI at /, API at /sonic/v1)",
                                epilog=EPILOG)
    serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    serve.add_argument("--port", type=_port, default=7861, help="port (default: 7861)")
    users = serve.add_mutually_exclusive_group()
    users.add_argument("--api-auth", metavar="USER:PASS[,USER:PASS]", type=_api_users,
                       help="HTTP Basic users for the API (the WebUI's --api-auth format); "
                            "visible to local users in the process list: prefer "
                            "--api-auth-file or $SONIC_API_AUTH")
    users.add_argument("--api-auth-file", metavar="FILE", type=_api_users_file,
                       help="the same, read from FILE (one USER:PASS per line)")
    token = serve.add_mutually_exclusive_group()
    token.add_argument("--admin-token", metavar="T", type=_nonempty,
                       help="token required for consent changes through the API; prefer "
                            "$SONIC_ADMIN_TOKEN or --admin-token-file")
    token.add_argument("--admin-token-file", metavar="FILE", type=_admin_token_file,
                       dest="admin_token", help="the same, read from FILE")
    serve.add_argument("--api-cors-origin", metavar="ORIGIN", action="append",
                       type=_origin, help="a web origin (https://host[:port]) whose pages may "
                                          "call the API; repeat for more (default: "
                                          "$SONIC_API_CORS_ORIGINS, else none)")
    serve.add_argument("--queue", metavar="URL", type=_queue_url,
                       help="queue mode: generations run on `sonic-ext worker` processes; URL "
                            "is the PostgreSQL database of the queue and the registry "
                            "(default: $SONIC_QUEUE_URL, else jobs run in this process)")
    serve.set_defaults(handler=_serve)

    worker = commands.add_parser("worker", epilog=EPILOG,
                                 help="queue mode: run queued generations, one at a time, on "
                                      "this machine's GPU (one worker per GPU)")
    worker.add_argument("--queue", metavar="URL", type=_queue_url,
                        help="the PostgreSQL database of the queue and the registry, as given "
                             "to `serve --queue` (default: $SONIC_QUEUE_URL)")
    worker.add_argument("--device", type=_worker_device, default="auto",
                        help="run every job here: cuda:N (that GPU alone), cuda, cpu, or auto "
                             "(each job's own choice; default)")
    worker.add_argument("--stall-timeout", type=_positive_seconds, default=STALL_TIMEOUT_S,
                        metavar="S", help="a job whose worker sent no heartbeat for S seconds "
                                          "is run again by another worker (default: "
                                          f"{STALL_TIMEOUT_S:g})")
    worker.set_defaults(handler=_worker)

    _add_generate(commands)
    _add_batch(commands)

    demo = commands.add_parser("demo", help="try the whole flow in a minute: a demo home with "
                               "test weights, a demo consent and one signed video")
    demo.add_argument("--demo-home", type=Path, default=None,
                      help="where the demo lives (default: <home>/demo); never your own home")
    _add_json(demo)
    demo.set_defaults(handler=_demo)

    verify = commands.add_parser("verify", help="report where a file came from: verify FILE",
                                 epilog=EPILOG)
    verify.add_argument("file", type=Path, metavar="FILE", help="MP4/MOV, JPEG/PNG or WAV/MP3")
    _add_json(verify)
    verify.add_argument("--report", type=Path, metavar="OUT.html", help="write an HTML report")
    verify.add_argument("--trust-anchors", type=Path, metavar="PEM",
                        help="PEM file of more trusted roots (this installation's root is "
                             "always trusted)")
    verify.add_argument("--strict", action="store_true",
                        help="exit 1 unless the verdict is 'authentic', from production "
                             "credentials and the real model, with its consent still in force")
    verify.add_argument("--status-list", type=Path, metavar="FILE",
                        help="a consent status list (`consent status-list`, or the operator's "
                             "GET /sonic/v1/consent-status); default: this registry's, now")
    verify.add_argument("--bundle", type=Path, metavar="DIR",
                        help="an auditor bundle (`auditor-bundle`): its trust anchors and "
                             "status list, no registry needed")
    verify.set_defaults(handler=_verify)
    sync = commands.add_parser(
        "sync-check", help="how far a talking-head video's sound is ahead of or behind its "
                           "mouth: sync-check VIDEO", epilog=EPILOG)
    sync.add_argument("file", type=Path, metavar="VIDEO",
                      help="any talking-head video with sound (MP4, MOV, WEBM, MKV)")
    _add_json(sync)
    sync.set_defaults(handler=_sync_check)
    bundle = commands.add_parser("auditor-bundle", help="what a third party needs to verify "
                                                        "our files offline: --out DIR")
    bundle.add_argument("--out", required=True, type=Path, metavar="DIR")
    _add_json(bundle)
    bundle.set_defaults(handler=_auditor_bundle)

    _add_consent(commands)
    _add_models(commands)

    keys = commands.add_parser("keys", help="signing credentials: init | show").add_subparsers(
        dest="keys_command", metavar="ACTION", required=True, parser_class=_Parser)
    init = keys.add_parser("init", help="create development signing credentials and the "
                                        "watermark key under <home>/keys (kept if they exist)")
    _add_json(init)
    init.set_defaults(handler=_keys_init)
    show = keys.add_parser("show", help="show the signing certificate in use (never the key)")
    _add_json(show)
    show.set_defaults(handler=_keys_show)

    dev = commands.add_parser("dev", help="developer tools: golden-check CASE_DIR | "
                                          "sample-audio OUT.wav").add_subparsers(
        dest="dev_command", metavar="ACTION", required=True, parser_class=_Parser)
    golden = dev.add_parser("golden-check", help="compare the pipeline with a golden case")
    golden.add_argument("case_dir", type=Path, metavar="CASE_DIR")
    golden.add_argument("--compile-unet", action="store_true",
                        help="torch.compile the UNet first (checks the compiled forward)")
    _add_json(golden)
    golden.set_defaults(handler=_golden_check)
    sample = dev.add_parser("sample-audio", help="write a speech-like WAV to try the flow with")
    sample.add_argument("out", type=Path, metavar="OUT.wav")
    sample.add_argument("--seconds", type=float, default=3.0, help="length (default: 3)")
    _add_json(sample)
    sample.set_defaults(handler=_sample_audio)
    return parser


def _add_json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def _add_generate(commands: Any) -> None:
    gen = commands.add_parser("generate", help="portrait + speech clip to a signed MP4",
                              epilog=EPILOG)
    gen.add_argument("--image", type=Path, required=True, metavar="IMG",
                     help="portrait (JPEG, PNG, WEBP, BMP)")
    gen.add_argument("--audio", type=Path, required=True, metavar="AUDIO",
                     help="speech clip (WAV, MP3, FLAC, M4A)")
    gen.add_argument("--out", type=Path, required=True, metavar="OUT.mp4", help="output MP4")
    gen.add_argument("--overwrite", action="store_true", help="replace OUT.mp4 if it exists")
    gen.add_argument("--purpose", default=DEFAULT_PURPOSE, metavar="P",
                     help=f"what the video is for; the consent must cover it "
                          f"(default: {DEFAULT_PURPOSE})")
    _add_claims(gen)
    gen.add_argument("--models-dir", type=Path, metavar="DIR", default=argparse.SUPPRESS,
                     help="model weights in the official layout")
    gen.add_argument("--preset", metavar="NAME",
                     help="start from a named set of parameters: fast, standard (the official "
                          "defaults), quality, or one of this deployment's policy; the "
                          "parameter flags given set their values over it")
    add_param_flags(gen)
    _add_json(gen)
    gen.set_defaults(handler=_generate)


def _add_batch(commands: Any) -> None:
    batch = commands.add_parser(
        "batch", help="many signed MP4s from a jobs file (CSV or JSON Lines), each through the "
                      "consent gate; re-run to resume", epilog=EPILOG)
    batch.add_argument("jobs", type=Path, metavar="JOBS.csv|JOBS.jsonl",
                       help="one item per row: portrait, audio, purpose, consent, out, preset "
                            "and any parameter; paths relative to this file")
    batch.add_argument("--out-dir", type=Path, required=True, metavar="DIR",
                       help="where the videos and batch-summary.csv/.json go")
    batch.add_argument("--purpose", default=DEFAULT_PURPOSE, metavar="P",
                       help="for items that name none")
    _add_claims(batch)
    batch.add_argument("--preset", metavar="NAME", help="for items that name none")
    add_param_flags(batch)
    _add_json(batch)
    batch.set_defaults(handler=_batch)


def _add_claims(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--consent", dest="consent_ids", action="append", default=[],
                        metavar="ID", help="the consent this video relies on; repeat it, one "
                                           "per person shown (`consent list` shows ids)")


def add_param_flags(parser: argparse.ArgumentParser, names: Sequence[str] | None = None,
                    params_class: type[GenerationParams] = GenerationParams) -> None:
    """A flag per generation parameter (or per one of `names`), from its declaration."""
    for spec in param_specs(params_class):
        if names is None or spec.name in names:
            parser.add_argument(spec.cli_flag, dest=spec.name, **_flag_options(spec))


def _flag_options(spec: ParamSpec) -> dict[str, Any]:
    """argparse options; an absent flag reads None, so a preset can tell what was given."""
    if spec.kind is bool:
        if spec.default:
            return {"action": "store_false", "default": None,
                    "help": f"turn off (on by default): {spec.help}"}
        return {"action": "store_true", "default": None, "help": spec.help}
    if spec.choices:
        return {"choices": spec.choices, "default": None,
                "help": f"{spec.help} (default: {spec.default})"}
    above = "above " if spec.low_open else ""
    bounds = "" if spec.low is None else f"; {above}{spec.low} to {spec.high}"
    return {"type": spec.kind, "default": None,
            "metavar": "N" if spec.kind is int else "F",
            "help": f"{spec.help} (default: {spec.default}{bounds})"}


def given_params(args: argparse.Namespace, names: Sequence[str] | None = None,
                 params_class: type[GenerationParams] = GenerationParams) -> dict[str, Any]:
    """The parameters whose flags (of `add_param_flags`) were given, and their values."""
    return {spec.name: getattr(args, spec.name) for spec in param_specs(params_class)
            if (names is None or spec.name in names) and getattr(args, spec.name) is not None}


def params_from_args(args: argparse.Namespace, names: Sequence[str] | None = None,
                     params_class: type[GenerationParams] = GenerationParams) -> GenerationParams:
    """The parameters the flags of `add_param_flags` set (the others keep their defaults)."""
    return params_class(**given_params(args, names, params_class))


def _add_consent(commands: Any) -> None:
    consent = commands.add_parser("consent", help="the consent registry: add | amend | check | list | show | revoke | status-list | audit-verify | audit-export | adopt-unsigned").add_subparsers(
        dest="consent_command", metavar="ACTION", required=True, parser_class=_Parser)
    add = consent.add_parser("add", help="enrol a person who consented, or renew an enrolled "
                                         "person's consent (--subject)", epilog=EPILOG)
    add.add_argument("--name", type=_nonempty,
                     help="the person's name (required unless --subject names them)")
    add.add_argument("--subject", dest="subject_id", metavar="ID",
                     help="renewal: a new consent for this enrolled subject (`consent show` "
                          "names each consent's subject)")
    add.add_argument("--portrait", type=Path, required=True, action="append", metavar="IMG",
                     help="portrait with exactly one face (repeat for more references)")
    add.add_argument("--evidence", type=Path, required=True, metavar="FILE",
                     help="signed release or recording that proves consent")
    add.add_argument("--purpose", action="append", metavar="P",
                     help="purpose the consent covers (repeatable)")
    add.add_argument("--expires", type=_iso_datetime, metavar="ISO8601",
                     help="end of validity (a time without a zone is UTC)")
    _add_grantees(add, required=True)
    _add_json(add)
    add.set_defaults(handler=_consent_add)
    amend = consent.add_parser(
        "amend", epilog=EPILOG,
        help="replace a consent in force by a new one with other purposes, validity or "
             "grantees; widening it needs new --evidence")
    amend.add_argument("id", metavar="ID")
    amend.add_argument("--purpose", action="append", metavar="P",
                       help="the purposes it covers from now on (repeatable; default: as now)")
    ends = amend.add_mutually_exclusive_group()
    ends.add_argument("--expires", type=_iso_datetime, metavar="ISO8601",
                      help="new end of validity")
    ends.add_argument("--no-expiry", action="store_true", help="valid until revoked")
    _add_grantees(amend, required=False)
    amend.add_argument("--evidence", type=Path, metavar="FILE",
                       help="signed amendment or recording (needed when the consent widens)")
    _add_json(amend)
    amend.set_defaults(handler=_consent_amend)
    check = consent.add_parser(
        "check", epilog=EPILOG,
        help="dry run of the consent gate for a portrait: exit 0 if it would pass, 3 if not")
    check.add_argument("--image", type=Path, required=True, metavar="IMG", help="portrait")
    _add_claims(check)
    check.add_argument("--purpose", default=DEFAULT_PURPOSE, metavar="P",
                       help=f"what the video would be for (default: {DEFAULT_PURPOSE})")
    add_param_flags(check, FRAMING_PARAMS)
    _add_json(check)
    check.set_defaults(handler=_consent_check)
    listing = consent.add_parser("list", help="list consents")
    listing.add_argument("--granted-to", metavar="ACTOR",
                         help="only consents in force that this requester may use "
                              "(e.g. api:alice, ui:alice, cli:root)")
    _add_json(listing)
    listing.set_defaults(handler=_consent_list)
    show = consent.add_parser("show", help="show one consent and its history")
    show.add_argument("id", metavar="ID")
    _add_json(show)
    show.set_defaults(handler=_consent_show)
    revoke = consent.add_parser("revoke", help="revoke a consent")
    revoke.add_argument("id", metavar="ID")
    revoke.add_argument("--reason", required=True, type=_nonempty, metavar="TEXT")
    _add_json(revoke)
    revoke.set_defaults(handler=_consent_revoke)
    audit = consent.add_parser(
        "audit-verify", help="check the audit log and every signed record against the consent "
                             "key, its signed checkpoints and any anchors given")
    audit.add_argument("--anchor", dest="anchors", action="append", type=Path, default=[],
                       metavar="FILE", help="a checkpoint kept elsewhere: an exported "
                       "checkpoint file, or an output of ours (its manifest carries the "
                       "checkpoint of its gate decision); repeatable")
    _add_json(audit)
    audit.set_defaults(handler=_audit_verify)
    status = consent.add_parser("status-list", help="the signed revocation status list "
                                                    "auditors check consent credentials with")
    status.add_argument("--out", type=Path, metavar="FILE", help="write it here (default: print)")
    _add_json(status)
    status.set_defaults(handler=_consent_status_list)
    export = consent.add_parser("audit-export", help="write every signed checkpoint and the "
                                                     "consent key's public key, for off-site "
                                                     "keeping")
    export.add_argument("--out", required=True, type=Path, metavar="DIR")
    _add_json(export)
    export.set_defaults(handler=_audit_export)
    adopt = consent.add_parser("adopt-unsigned", help="sign rows recorded before the registry "
                                                      "was signed (only those its audit log "
                                                      "recorded as they are)")
    _add_json(adopt)
    adopt.set_defaults(handler=_adopt_unsigned)


def _add_grantees(parser: argparse.ArgumentParser, *, required: bool) -> None:
    parser.add_argument("--grantee", dest="grantees", action="append", required=required,
                        metavar="USER", help="who may generate under it: a user name (any "
                        "surface), api:USER, ui:USER or cli:USER; repeatable; or 'any' for "
                        "every user of this installation")


MEMORY_PARAMS = ("min_resolution", "dtype", "decode_chunk_size", "interpolate")


def _add_models(commands: Any) -> None:
    models = commands.add_parser("models", help="model weights: status | memory | download | make-tiny | keys").add_subparsers(
        dest="models_command", metavar="ACTION", required=True, parser_class=_Parser)
    status = models.add_parser("status", help="which model files are present")
    _add_json(status)
    status.set_defaults(handler=_models_status)
    memory = models.add_parser("memory", help="estimated peak GPU memory per offload mode, "
                                              "and what --offload auto picks on this GPU")
    memory.add_argument("--seconds", type=float, default=10.0, metavar="S",
                        help="length of the speech (default 10)")
    add_param_flags(memory, MEMORY_PARAMS)
    _add_json(memory)
    memory.set_defaults(handler=_models_memory)
    download = models.add_parser("download", help="download the needed model files")
    download.add_argument("--hf-token", metavar="T", type=_nonempty,
                          help="Hugging Face token for the gated SVD files (default: HF_TOKEN "
                               "or a saved login)")
    _add_json(download)
    download.set_defaults(handler=_models_download)
    tiny = models.add_parser("make-tiny", help="write a seeded random-weight tree for tests")
    tiny.add_argument("dir", type=Path, metavar="DIR")
    tiny.add_argument("--seed", type=int, default=0, metavar="N")
    tiny.add_argument("--full-size", action="store_true",
                      help="official widths and depths (about 8 GB; for GPU benchmarks)")
    _add_json(tiny)
    tiny.set_defaults(handler=_make_tiny)
    keys = models.add_parser("keys", help="state-dict keys and shapes of a full-size component")
    keys.add_argument("--component", required=True, choices=COMPONENTS)
    _add_json(keys)
    keys.set_defaults(handler=_model_keys)


# -- handlers -------------------------------------------------------------------------------------

# Request fields the service names in its errors, and the flags that set them.
_GENERATE_FLAGS = {**{name: "--" + name for name in ("image", "audio", "out", "purpose",
                                                     "preset")},
                   **{spec.name: spec.cli_flag for spec in param_specs(GenerationParams)},
                   "consent_id": "--consent"}
_CONSENT_FLAGS = {"name": "--name", "portrait": "--portrait", "evidence": "--evidence",
                  "purposes": "--purpose", "expires": "--expires", "id": "ID",
                  "reason": "--reason", "grantees": "--grantee", "subject_id": "--subject",
                  "image": "--image", "purpose": "--purpose", "consent_id": "--consent"}


def _generate(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        params = resolve(args.preset, given_params(args), service.policy.presets)
        request = GenerateRequest(image=args.image, audio=args.audio, out=args.out,
                                  purpose=args.purpose, params=params, overwrite=args.overwrite,
                                  requested_by=_actor(),
                                  consent_ids=tuple(split_labels(args.consent_ids)))
        result = service.generate(request, progress=_print_progress)
    except InputError as exc:
        raise _as_flag_error(exc, _GENERATE_FLAGS) from None
    return Outcome(result.to_dict(), f"wrote {result.out}: signed with {result.credentials}, "
                                     f"consent {result.consent_id}, watermark "
                                     f"{result.watermark_id}, {result.seconds:.0f} s")


def _batch(service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..batch import BatchDefaults, read_jobs, run_batch, state_counts, write_summary

    items = read_jobs(args.jobs)
    defaults = BatchDefaults(args.purpose, tuple(split_labels(args.consent_ids)), args.preset,
                             given_params(args))
    total = len(items)

    def show(index: int, outcome: Any, event: ProgressEvent | None) -> None:
        name = Path(outcome.out).name or outcome.portrait
        if event is not None:
            _print_progress(event, prefix=f"[{index + 1}/{total} {name}] ")
        elif outcome.state != "running":
            said = outcome.error or outcome.out
            print(printable(f"[{index + 1}/{total}] {outcome.state}: {said}"), file=sys.stderr,
                  flush=True)

    outcomes = run_batch(service, items, defaults, args.jobs.resolve().parent, args.out_dir,
                         _actor(), show)
    summary_csv, summary_json = write_summary(outcomes, args.out_dir)
    counts = state_counts(outcomes)
    text = ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    return Outcome({"counts": counts, "summary_csv": str(summary_csv),
                    "summary_json": str(summary_json),
                    "items": [vars(outcome) for outcome in outcomes]},
                   f"{text}; summary in {summary_csv}",
                   exit_code=0 if counts["refused"] + counts["failed"] == 0 else 1)


def _as_flag_error(exc: InputError, flags: dict[str, str]) -> InputError:
    """Name the command-line flag rather than the request field."""
    flag = flags.get(exc.field)
    return InputError(flag, exc.problem, hint=exc.hint) if flag else exc


def _print_progress(event: ProgressEvent, prefix: str = "") -> None:
    eta = f", about {event.eta_s:.0f} s left" if event.eta_s else ""
    print(printable(f"{prefix}[{event.stage}] {event.step}/{event.total}{eta} "
                    f"{event.message}".rstrip()), file=sys.stderr, flush=True)


def _demo(service: SonicService, args: argparse.Namespace) -> Outcome:
    from .demo import demo_home, run_demo

    home = (args.demo_home or demo_home(service.settings)).absolute()
    run = run_demo(home, progress=_print_progress)
    result, report = run.result, run.service.verify(run.result.out)
    return Outcome({"demo_home": str(home), **result.to_dict(), "verdict": report.verdict},
                   f"DEMO (test weights: the video shows no real animation): wrote {result.out}\n"
                   f"verify: {report.verdict}, consent {result.consent_id} (the demo's), "
                   f"watermark {result.watermark_id}\n"
                   f"look around: sonic-ext --home {home} serve")


def _verify(service: SonicService, args: argparse.Namespace) -> Outcome:
    if args.trust_anchors is not None and not args.trust_anchors.is_file():
        raise InputError("--trust-anchors", f"file not found: {args.trust_anchors}")
    if args.report is not None and not args.report.absolute().parent.is_dir():
        raise InputError("--report", f"folder does not exist: {args.report.absolute().parent}")
    if args.bundle is not None and (args.trust_anchors or args.status_list):
        raise InputError("--bundle", "a bundle brings its own trust anchors and status list",
                         hint="give --bundle alone, or --trust-anchors / --status-list")
    try:
        report = service.verify(args.file, args.trust_anchors, status_list=args.status_list,
                                bundle=args.bundle)
    except InputError as exc:
        raise InputError("FILE", exc.problem, hint=exc.hint) from None
    lines = [f"{args.file}: {report.verdict}"]
    lines += [f"  - {printable(reason['text'])}" for reason in report.reasons]
    if report.consent_check is not None:
        lines.append(f"  consent credential: {report.consent_check['verdict']}: "
                     f"{printable(str(report.consent_check['reason']))}")
        identity = report.consent_check.get("identity")
        if isinstance(identity, dict):
            lines.append(f"  registry identity assertion: {identity['state']}: "
                         f"{printable(str(identity['reason']))}")
    named = report.content.get("named_consent")
    if report.consent:
        state = "revoked" if report.consent.get("revoked_at") else "not revoked"
        if report.verdict == "stripped-unconfirmed":
            state += "; the pictures are not confirmed to be its generation's"
        lines.append(f"  consent {report.consent['id']} "
                     f"({printable(report.consent['subject_name'])}): {state}")
    elif isinstance(named, dict):
        lines.append(f"  the watermark names consent {named['id']} "
                     f"({printable(str(named['subject_name']))}), which does NOT cover this "
                     "file")
    if args.report is not None:
        lines.append(f"  report: {service.write_verify_report(report, args.report)}")
    strict_failures = report.strict_failures() if args.strict else []
    lines += [f"  strict: fails, {failure}" for failure in strict_failures]
    return Outcome(report.to_dict(), "\n".join(lines), exit_code=1 if strict_failures else 0)


def _sync_check(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        check = service.sync_check(args.file)
    except InputError as exc:
        raise InputError("VIDEO", exc.problem, hint=exc.hint) from None
    lines = [f"{args.file}: {check.message}"]
    if check.status == "measured":
        lines.append(f"  measured on {check.face_frames} of {check.frames} frames "
                     f"({check.seconds:g} s)")
        if check.reliable and check.offset_ms:
            lines.append(f"  to correct it, move the sound {abs(check.offset_ms)} ms "
                         f"{'earlier' if check.offset_ms > 0 else 'later'}")
    return Outcome(check.to_dict(), "\n".join(lines))


def _auditor_bundle(service: SonicService, args: argparse.Namespace) -> Outcome:
    written = service.auditor_bundle(args.out)
    return Outcome(written, f"auditor bundle for {written['issuer']} in {args.out}: "
                            f"{', '.join(written['files'])}")


def _consent_status_list(service: SonicService, args: argparse.Namespace) -> Outcome:
    token = service.consent_status_list()
    if args.out is None:
        return Outcome({"status_list": token}, token)
    args.out.write_text(token + "\n", encoding="ascii")
    return Outcome({"status_list": token, "out": str(args.out)},
                   f"signed status list written to {args.out}")


def _actor() -> str:
    """Who is at the keyboard: the requester and audit actor (`cli:<login>`)."""
    return actor("cli", getpass.getuser())


def _consent_text(record: dict[str, Any]) -> str:
    """One line per consent; registry text is escaped (`printable`), so a name stored with
    control characters before they were refused cannot rewrite the terminal or add a line."""
    until = record.get("valid_until") or "no expiry"
    state = f"revoked {record['revoked_at']}" if record.get("revoked_at") else record["status"]
    if record.get("superseded_by"):
        state += f" by {printable(record['superseded_by'])}"
    purposes = ", ".join(printable(p) for p in record["purposes"])
    grantees = ", ".join(printable(g) for g in record.get("grantees", ())) or "nobody"
    return (f"{printable(record['id'])}  {printable(record['subject_name'])}  purposes "
            f"{purposes}  for {grantees}  until {until}  {state}")


def _consent_add(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        record = service.add_consent(args.name, args.portrait, args.evidence,
                                     split_labels(args.purpose) or [DEFAULT_PURPOSE],
                                     args.expires, _actor(), grantees=split_labels(args.grantees),
                                     subject_id=args.subject_id)
    except InputError as exc:
        raise _as_flag_error(exc, _CONSENT_FLAGS) from None
    return Outcome(record.to_dict(), "recorded " + _consent_text(record.to_dict()))


def _consent_amend(service: SonicService, args: argparse.Namespace) -> Outcome:
    expires: Any = None if args.no_expiry else (args.expires or KEEP)
    try:
        record = service.amend_consent(args.id, _actor(), purposes=split_labels(args.purpose)
                                       or None, expires=expires,
                                       grantees=split_labels(args.grantees) or None,
                                       evidence=args.evidence)
    except InputError as exc:
        raise _as_flag_error(exc, _CONSENT_FLAGS) from None
    return Outcome(record.to_dict(), f"recorded {_consent_text(record.to_dict())}\n"
                                     f"  replaces {printable(args.id)}, no longer in force")


def _consent_check(service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..consent import GateRefused

    params = params_from_args(args, FRAMING_PARAMS)
    try:
        decision = service.check_consent(args.image, args.purpose, _actor(),
                                         split_labels(args.consent_ids), params).to_dict()
    except GateRefused as exc:
        decision = exc.decision.to_dict()
    except InputError as exc:
        raise _as_flag_error(exc, _CONSENT_FLAGS) from None
    lines = [("WOULD PASS: " if decision["passed"] else "REFUSED: ")
             + printable(decision["message"])]
    if decision["hint"]:
        lines.append(f"  what to do: {printable(decision['hint'])}")
    lines += [f"  - {printable(face['message'])}" for face in decision["faces"]]
    lines.append(f"  audit event {decision['audit_seq']}")
    return Outcome(decision, "\n".join(lines), exit_code=0 if decision["passed"] else 3)


def _consent_list(service: SonicService, args: argparse.Namespace) -> Outcome:
    records = [r.to_dict() for r in service.list_consents(args.granted_to)]
    return Outcome({"consents": records},
                   "\n".join(map(_consent_text, records)) or "no consents recorded")


def _consent_show(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        details = service.show_consent(args.id).to_dict()
    except InputError as exc:
        raise _as_flag_error(exc, _CONSENT_FLAGS) from None
    history = [f"  {e['seq']:>5}  {e['at']}  {printable(e['actor'])}  {printable(e['action'])}"
               for e in details["history"]]
    return Outcome(details, "\n".join([_consent_text(details), "history:", *history]))


def _consent_revoke(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        record = service.revoke_consent(args.id, args.reason, _actor())
    except InputError as exc:
        raise _as_flag_error(exc, _CONSENT_FLAGS) from None
    return Outcome(record.to_dict(), "revoked " + _consent_text(record.to_dict()))


def _audit_verify(service: SonicService, args: argparse.Namespace) -> Outcome:
    report = service.verify_audit_chain(args.anchors)
    checked = (f"{report.events_checked} events, signed checkpoints up to "
               f"{report.checkpoint_size or 'none'}, {report.anchors_checked} anchor(s), "
               f"consent key {report.key_id}")
    if report.ok:
        return Outcome(report.to_dict(), f"registry intact: {checked}")
    where = f" at event {report.broken_seq}" if report.broken_seq else ""
    lines = [f"registry ALTERED{where} ({checked}):",
             *(f"  - {printable(p)}" for p in report.problems)]
    return Outcome(report.to_dict(), "\n".join(lines), exit_code=1)


def _audit_export(service: SonicService, args: argparse.Namespace) -> Outcome:
    written = service.export_audit_checkpoints(args.out)
    return Outcome(written, f"{written['checkpoints']} signed checkpoints (latest: "
                            f"{written['latest_size']} events) and the consent key's public key "
                            f"written to {args.out}")


def _adopt_unsigned(service: SonicService, _args: argparse.Namespace) -> Outcome:
    result = service.adopt_unsigned(_actor())
    adopted = sum(len(result[k]) for k in ("subjects", "consents", "references"))
    lines = [f"adopted {len(result['subjects'])} subject(s), {len(result['consents'])} "
             f"consent(s), {len(result['references'])} face reference(s)"]
    if result["left_unsigned"]:
        lines.append("left unsigned (the audit log does not record them as they are; the gate "
                     "keeps refusing them): " + ", ".join(result["left_unsigned"]))
    return Outcome(result, "\n".join(lines), exit_code=0 if adopted or not result[
        "left_unsigned"] else 1)


def _sample_audio(_service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..media.sample_audio import write_sample_speech

    path = write_sample_speech(args.out, args.seconds)
    return Outcome({"out": str(path), "seconds": args.seconds}, f"wrote {path}")


def _golden_check(_service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..sonic.golden import GoldenCase, run_golden_check

    case = GoldenCase(args.case_dir)
    results = run_golden_check(case, progress=None if args.json else _print_progress,
                               compile_unet=args.compile_unet)
    failed = [r for r in results if not r.ok]
    lines = [f"{'tensor':<44} {'max abs':>10} {'max rel':>10} {'atol':>8}  result"]
    lines += [f"{r.name:<44} {r.max_abs:>10.3g} {r.max_rel:>10.3g} {r.atol:>8.1g}  "
              f"{'ok' if r.ok else 'FAIL'}" for r in results]
    lines.append(f"{case.root.name}: {len(results) - len(failed)} of {len(results)} tensors "
                 "within tolerance" + (f"; FAILED: {', '.join(r.name for r in failed)}"
                                        if failed else ""))
    payload = {"case": str(case.root), "ok": not failed,
               "comparisons": [r.to_dict() for r in results]}
    return Outcome(payload, "\n".join(lines), exit_code=1 if failed else 0)


def _keys_init(service: SonicService, _args: argparse.Namespace) -> Outcome:
    from ..provenance.keys import init_dev_keys

    files = init_dev_keys(service.settings.keys_dir)
    mark_key = service.watermark_key()
    return Outcome({"root_certificate": str(files.root_cert), "chain": str(files.chain),
                    "watermark_key_id": mark_key.key_id},
                   f"development signing credentials in {files.chain.parent}\n"
                   f"give auditors the root certificate (never the key): {files.root_cert}\n"
                   f"watermark key {mark_key.key_id} (secret: keep it with the signing key)")


def _keys_show(service: SonicService, _args: argparse.Namespace) -> Outcome:
    mark_key = service.watermark_key(create=False)
    described = {**service.credentials().describe(),
                 "watermark_key_id": mark_key.key_id if mark_key else None}
    return Outcome(described, "\n".join(f"{k}: {v}" for k, v in described.items()))


def _models_download(service: SonicService, args: argparse.Namespace) -> Outcome:
    def on_bytes(event: ProgressEvent) -> None:
        eta = f", about {event.eta_s:.0f} s left" if event.eta_s and event.step < event.total \
            else ""
        print(f"[download] {event.fraction:.0%} {event.message}{eta}", file=sys.stderr,
              flush=True)

    fetched = service.download_models(token=args.hf_token, progress=on_bytes)
    status = service.models_status()
    return Outcome({"fetched": fetched, **status.summary()},
                   f"downloaded {len(fetched)} file(s) into {status.models_dir}; "
                   + ("ready" if status.ready else "still incomplete: see `models status`"))


def _make_tiny(_service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..sonic.layout import check_models
    from ..sonic.tiny import make_tiny_tree

    root = make_tiny_tree(args.dir.absolute(), seed=args.seed, full_size=args.full_size)
    status = check_models(root)
    return Outcome({**status.summary(), "seed": args.seed, "full_size": args.full_size},
                   f"wrote seeded test weights (seed {args.seed}) to {root}: "
                   f"{status.summary()['present']} of {len(status.files)} files; "
                   "not a real model, for tests and smoke runs only")


def _model_keys(_service: SonicService, args: argparse.Namespace) -> Outcome:
    from ..sonic.components import full_size, state_dict_layout

    layout = state_dict_layout(full_size(args.component))
    parameters = sum(_count(shape) for _, shape, _ in layout)
    text = "\n".join([f"{key} {shape} {dtype}" for key, shape, dtype in layout] +
                      [f"{args.component}: {len(layout)} keys, {parameters:,} values"])
    return Outcome({"component": args.component, "keys": layout}, text)


def _count(shape: list[int]) -> int:
    total = 1
    for size in shape:
        total *= size
    return total


def _models_status(service: SonicService, _args: argparse.Namespace) -> Outcome:
    status = service.models_status()
    lines = [f"models dir: {status.models_dir}"]
    lines += [f"  {f.state:<10} {f.file.path}" for f in status.files]
    kind = " (seeded test weights: not a real model)" if status.test_weights else ""
    lines.append(f"ready{kind}" if status.ready else
                 f"not ready: {len(status.problems)} of {len(status.files)} files missing or wrong")
    return Outcome(status.to_dict(), "\n".join(lines))


def _models_memory(service: SonicService, args: argparse.Namespace) -> Outcome:
    if not 0 < args.seconds <= service.policy.max_audio_seconds:
        raise InputError("--seconds", f"must be more than 0 and at most "
                                      f"{service.policy.max_audio_seconds:g}, got {args.seconds:g}")
    params = GenerationParams(**{name: getattr(args, name) for name in MEMORY_PARAMS
                                 if getattr(args, name) is not None})
    memory = service.gpu_memory(params.validate(), args.seconds)
    return Outcome(memory.to_dict(), "\n".join(memory.lines()))


def _serve(service: SonicService, args: argparse.Namespace) -> Outcome:
    try:
        import uvicorn

        from .api.auth import ApiAuth
        from .app import create_app
    except ModuleNotFoundError as exc:
        raise NotAvailable(f"the standalone app needs its web packages ({exc.name} is missing)",
                           hint="pip install 'sd-webui-sonic[app]'") from None
    except ImportError as exc:  # present, but not a version the others work with
        raise NotAvailable(f"the standalone app's web packages do not work together: {exc}",
                           hint="install the tested set: pip install -c "
                                "constraints/standalone.txt 'sd-webui-sonic[app]'") from None
    _require_free_port(args.host, args.port)
    auth = ApiAuth(users=args.api_auth or args.api_auth_file
                   or parse_api_auth(service.settings.api_auth, ENV_API_AUTH))
    if args.host not in ("127.0.0.1", "localhost", "::1") and not auth.users:
        log.warning("serving on %s without --api-auth: anyone who can reach it can use the API",
                    args.host)
        print(f"warning: {args.host} is reachable by others and --api-auth is not set",
              file=sys.stderr)
    service.settings.keep_gradio_files_private()
    app = create_app(service, auth, args.api_cors_origin)
    print(f"Sonic {__version__}: http://{args.host}:{args.port}/ (API at /sonic/v1, "
          f"home {service.settings.home})", file=sys.stderr, flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    except SystemExit as exc:  # uvicorn exits 3 when it cannot bind (taken since the check)
        if exc.code == 3:
            raise _port_in_use(args.host, args.port) from None
        raise
    return Outcome({"stopped": True}, "stopped")


def _worker(service: SonicService, args: argparse.Namespace) -> Outcome:
    if not service.settings.queue_url:
        raise InputError("--queue", "a worker needs the queue's PostgreSQL URL (or "
                                    "$SONIC_QUEUE_URL)")
    from .queue.worker import QueueWorker

    worker = QueueWorker(service, service.settings.queue_url, device=args.device,
                         stall_timeout_s=args.stall_timeout)
    worker.warm_up()
    print(f"Sonic {__version__} worker {worker.name}: waiting for jobs (device {args.device}, "
          f"home {service.settings.home})", file=sys.stderr, flush=True)
    worker.run()
    return Outcome({"stopped": True}, "stopped")


def _require_free_port(host: str, port: int) -> None:
    """Fail before building the app when the address is taken (uvicorn would exit 3, our
    consent-refused code, after a startup the user waited for)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InputError("--host", f"cannot resolve {host!r}: {exc.strerror}") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as exc:
            raise _port_in_use(host, port, exc.strerror) from None


def _port_in_use(host: str, port: int, why: str | None = None) -> PortInUse:
    return PortInUse(f"cannot listen on {host}:{port}: {why or 'address already in use'}",
                     hint="another server is running there; stop it or pass --port")


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in argv
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        return _fail(exc, want_json, usage=exc.usage)
    want_json = bool(getattr(args, "json", False))
    try:
        settings = Settings.from_environment(home=args.home, models_dir=args.models_dir,
                                             log_level=args.log_level,
                                             admin_token=getattr(args, "admin_token", None),
                                             queue_url=getattr(args, "queue", None))
        settings.ensure_dirs()
        configure_logging(settings)
        log.info("command %s", " ".join(_command_path(args)))
        outcome = args.handler(SonicService(settings), args)
    except SonicError as exc:
        log.info("command failed: %s", exc)
        if args.debug:
            traceback.print_exc()
        return _fail(exc, want_json)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except ModuleNotFoundError as exc:  # an optional extra is not installed
        log.info("missing package %s", exc.name)
        return _fail(NotAvailable(f"this command needs the Python package {exc.name!r}, which "
                                  "is not installed",
                                  hint="pip install 'sd-webui-sonic[ml,identity,provenance]'"),
                     want_json)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, exit 1
        log.exception("internal error")
        if args.debug:
            traceback.print_exc()
        wrapped = SonicError(f"internal error: {type(exc).__name__}: {exc}",
                             hint=None if args.debug else "run with --debug for the traceback")
        return _fail(wrapped, want_json)
    if want_json:
        print(json.dumps(outcome.payload, default=str))
    else:
        print(printable_lines(outcome.text))  # every field is escaped already; this is the net
    return outcome.exit_code


def _command_path(args: argparse.Namespace) -> list[str]:
    keys = ("command", "consent_command", "models_command", "keys_command", "dev_command")
    return [value for key in keys if (value := getattr(args, key, None))]


def _fail(exc: SonicError, want_json: bool, usage: str | None = None) -> int:
    if want_json:
        print(json.dumps({"error": {**exc.to_dict(), "exit_code": exc.exit_code}}))
    if usage:
        print(usage, file=sys.stderr)
    print(f"error: {printable(exc)}", file=sys.stderr)  # messages quote names: one line, escaped
    return exc.exit_code
