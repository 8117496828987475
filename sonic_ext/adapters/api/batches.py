"""POST /batches: many generations in one request (uploads by multipart), each through the
consent gate and signed on its own; GET /batches/{id}: each item's state and summary.

An item names its portrait and speech clip by the uploaded files' names, so one portrait can
serve many clips (a course in several languages). Every item is prepared as POST /generate
prepares one: a refused or bad item is reported in the answer at once and the others are
queued as jobs of the one worker (the models load once). A batch is a small JSON file under
`<home>/batches/` listing its items' jobs; the jobs keep their own state, so the batch's view is
always current and survives a restart.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any, Dict, List, Optional

from fastapi import APIRouter, Depends, File, Form, UploadFile

from ...consent.fields import split_labels
from ...consent.grantees import actor
from ...contracts import DEFAULT_PURPOSE, GenerateRequest
from ...errors import ConsentRefused, InputError, SonicError
from ...presets import resolve
from ...service import SonicService
from ..jobs import (
    Jobs,
    UnknownJob,
    is_record_id,
    new_job_id,
    now_stamp,
    write_record,
)
from .errors import error_response
from .generate import PARAMS_TEXT, PRESET_TEXT, params_object
from .job_routes import job_view
from .models import BATCH_EXAMPLE, Batch, error_responses, example
from .uploads import (
    FORM_SLACK_BYTES,
    MAX_AUDIO_BYTES,
    SMALL_BODY_BYTES,
    api_route,
    save_upload,
)

log = logging.getLogger(__name__)

MAX_ITEMS = 50
MAX_FILES = 2 * MAX_ITEMS
MAX_BATCH_BYTES = 1024 * 1024 * 1024
ITEM_FIELDS = {"portrait", "audio", "purpose", "consent_id", "preset", "params"}
ITEMS_TEXT = ('a JSON list of items, each {"portrait": FILE NAME, "audio": FILE NAME, '
              '"purpose"?, "consent_id"? (a list or a comma list), "preset"?, "params"? (an '
              f'object)}}, at most {MAX_ITEMS}; what an item leaves out comes from the fields '
              'below')


class BatchStore:
    """One JSON file per batch: its owner and what became of each item when it was sent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)

    def read(self, batch_id: str, owner: str) -> dict[str, Any]:
        path = self.folder / f"{batch_id}.json"
        batch = None
        if is_record_id(batch_id) and path.is_file():
            try:
                batch = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                log.warning("unreadable batch record %s", path)
        if not isinstance(batch, dict) or batch.get("owner") != owner:
            raise UnknownJob("batch_id", f"no batch {batch_id!r}")
        return batch

    def write(self, batch: dict[str, Any]) -> None:
        write_record(self.folder, batch["id"], batch)


def parse_items(text: str) -> list[dict[str, Any]]:
    """The `items` field: a list of 1 to MAX_ITEMS objects with known keys (422 otherwise)."""
    try:
        items = json.loads(text)
    except ValueError as exc:
        raise InputError("items", f"not JSON: {exc}") from None
    if not isinstance(items, list) or not items or len(items) > MAX_ITEMS:
        raise InputError("items", f"must be a list of 1 to {MAX_ITEMS} items")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise InputError(f"items[{index}]", "must be an object")
        unknown = set(item) - ITEM_FIELDS
        if unknown:
            raise InputError(f"items[{index}]", f"unknown field {sorted(unknown)[0]!r}",
                             hint=f"known: {', '.join(sorted(ITEM_FIELDS))}")
        for key in ("portrait", "audio"):
            if not isinstance(item.get(key), str) or not item[key]:
                raise InputError(f"items[{index}].{key}", "must name an uploaded file")
    return items


def add_batch_routes(router: APIRouter, service: SonicService, jobs: Jobs,
                     require_user: Any) -> None:
    store = BatchStore(service.settings.home / "batches")
    uploads = APIRouter(route_class=api_route(MAX_BATCH_BYTES + FORM_SLACK_BYTES),
                        tags=["generate"])
    small = APIRouter(route_class=api_route(SMALL_BODY_BYTES), tags=["generate"])

    def view(batch: dict[str, Any], user: str) -> Dict[str, Any]:
        items, counts = [], {"queued": 0, "running": 0, "done": 0, "refused": 0, "failed": 0,
                             "cancelled": 0, "interrupted": 0}
        for item in batch["items"]:
            shown = dict(item)
            if item.get("job_id"):
                try:
                    job = jobs.get(item["job_id"], user)
                except UnknownJob:  # its record is gone: say so rather than fail the view
                    shown.update(state="failed", error={"code": "not_found",
                                                        "message": "its job record is gone"})
                else:
                    shown.update(state=job.state, job=job_view(job))
            counts[shown["state"]] = counts.get(shown["state"], 0) + 1
            items.append(shown)
        return {"id": batch["id"], "created_at": batch["created_at"], "counts": counts,
                "items": items, "status_url": f"batches/{batch['id']}"}

    @uploads.post(
        "/batches", status_code=202, response_model=Batch,
        summary="Start many generations (upload the portraits and speech clips once)",
        description="Each item is checked and passes the consent gate on its own: a refused "
                    "or bad item is reported at once (state refused or failed, with its error) "
                    "and the others are queued as jobs, signed one by one. 422 when `items` "
                    "is malformed or names a file that was not uploaded.",
        responses={202: example(Batch, BATCH_EXAMPLE, "the batch, its items queued or "
                                                      "refused"),
                   **error_responses(401, 413, 422)})
    def create(files: List[UploadFile] = File(..., description="the portraits and speech "
                                                               "clips the items name, each "
                                                               "once; 1 GB in all"),
               items: str = Form(..., description=ITEMS_TEXT),
               purpose: str = Form(DEFAULT_PURPOSE, description="for items that name none"),
               consent_id: List[str] = Form([], description="for items that name none"),
               params: str = Form("{}", description=f"for every item, under its own "
                                                     f"`params`: {PARAMS_TEXT}"),
               preset: Optional[str] = Form(None, description=f"for items that name none: "
                                                              f"{PRESET_TEXT}"),
               user: str = Depends(require_user)) -> Dict[str, Any]:
        listed = parse_items(items)
        defaults = params_object(params)  # a malformed default is the request's fault: 422
        if len(files) > MAX_FILES:
            raise InputError("files", f"at most {MAX_FILES} files")
        batch_id = new_job_id()
        staging = jobs.uploads_dir / f"batch-{batch_id}"
        staging.mkdir(mode=0o700, parents=True)
        try:
            saved = _save_files(files, staging)
            for index, item in enumerate(listed):
                for key in ("portrait", "audio"):
                    if item[key] not in saved:
                        raise InputError(f"items[{index}].{key}",
                                         f"no uploaded file is named {item[key]!r}")
            entries = [_submit(index, item, saved, defaults, purpose, consent_id, preset,
                               user) for index, item in enumerate(listed)]
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        batch = {"id": batch_id, "owner": user, "created_at": now_stamp(), "items": entries}
        store.write(batch)
        return view(batch, user)

    def _submit(index: int, item: dict[str, Any], saved: dict[str, Path],
                defaults: dict[str, Any], purpose: str, consent_ids: List[str],
                preset: Optional[str], user: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"index": index, "portrait": item["portrait"],
                                 "audio": item["audio"]}
        job_id = new_job_id()
        folder = jobs.uploads_for(job_id)
        folder.mkdir(mode=0o700, parents=True)
        try:
            own = params_object(item.get("params") or {}, f"items[{index}].params")
            request = GenerateRequest(
                image=_linked(saved[item["portrait"]], folder / "portrait"),
                audio=_linked(saved[item["audio"]], folder / "audio"),
                out=service.settings.outputs_dir / f"{job_id}.mp4",
                purpose=item.get("purpose") or purpose,
                params=resolve(item.get("preset") or preset, {**defaults, **own},
                               service.policy.presets),
                requested_by=actor("api", user),
                consent_ids=tuple(split_labels(item.get("consent_id")) or
                                  split_labels(consent_ids)))
            prepared = service.prepare(request)
        except BaseException as exc:
            shutil.rmtree(folder, ignore_errors=True)
            if not isinstance(exc, SonicError):
                raise
            state = "refused" if isinstance(exc, ConsentRefused) else "failed"
            return {**entry, "state": state, "error": error_response(exc).detail}
        jobs.submit(job_id, prepared, owner=user)
        return {**entry, "state": "queued", "job_id": job_id}

    @small.get("/batches/{batch_id}", response_model=Batch,
               summary="A batch: each item's state, and its job (video, sha256, watermark ID) "
                       "or error", responses=error_responses(401, 404))
    def show(batch_id: str, user: str = Depends(require_user)) -> Dict[str, Any]:
        return view(store.read(batch_id, user), user)

    router.include_router(uploads)
    router.include_router(small)


def _save_files(files: List[UploadFile], folder: Path) -> dict[str, Path]:
    """Each upload under a numbered name, by the name it was sent with (unique)."""
    saved: dict[str, Path] = {}
    for number, upload in enumerate(files):
        name = Path(upload.filename or "").name
        if not name:
            raise InputError("files", "every file needs its name (items refer to it)")
        if name in saved:
            raise InputError("files", f"two files are named {name!r}")
        saved[name] = save_upload(upload, folder / f"{number}-{Path(name).stem[:40]}",
                                  MAX_AUDIO_BYTES, "files")
    return saved


def _linked(source: Path, target: Path) -> Path:
    """`source` in a job's own folder (hard-linked when it can be: one upload, many jobs)."""
    path = target.with_name(target.name + source.suffix)
    try:
        os.link(source, path)
    except OSError:
        shutil.copyfile(source, path)
    return path
