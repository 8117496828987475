"""POST /sync-check: the lip-sync check over HTTP, for uploads only, answering as the CLI does."""

from __future__ import annotations

from pathlib import Path

import httpx

from sonic_ext import SonicService
from sonic_ext.lip_sync import check_video
from tests.api.conftest import OPS
from tests.talking_video import talking_video


def test_an_uploaded_video_gets_its_offset(admin_api: str, tmp_path: Path) -> None:
    video = talking_video(tmp_path / "talk.mp4", -80, seconds=4)
    url = f"{admin_api}/sync-check"
    answer = httpx.post(url, auth=OPS, timeout=60,
                        files={"file": ("my talk.mp4", video.read_bytes(), "video/mp4")})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {**check_video(video).to_dict(), "path": "my talk.mp4"}
    assert answer.json()["offset_ms"] == -80 and answer.json()["reliable"] is True


def test_bad_uploads_are_refused_without_server_paths(admin_api: str,
                                                     admin_service: SonicService) -> None:
    url = f"{admin_api}/sync-check"
    refused = httpx.post(url, auth=OPS, files={"file": ("a.mp4", b"junk", "video/mp4")})
    assert refused.status_code == 422, refused.text
    assert "cannot be read as a video" in refused.json()["detail"]["message"]
    assert "sonic-sync-" not in refused.text and str(admin_service.settings.home) not in refused.text
    assert httpx.post(url, files={"file": ("talk.mp4", b"x")}).status_code == 401
