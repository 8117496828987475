"""Provenance for every output: invisible watermark, signed C2PA manifest, atomic publish.

Modules, in the order a generation uses them:
- `keys`: development PKI (`keys init`), production key files, KMS/HSM callback signer;
- `watermark`: `FrameWatermarker` (marks each chunk of frames) and `detect_video` (imports torch via
  invisible-watermark, about 1 s: import it where it is used, not at CLI start-up);
- `manifest`: the C2PA manifest for one generation (`GenerationFacts`, `InputFile`);
- `labels`: our assertion labels;
- `identity_assertion`: the consent registry's CAWG identity assertion, made and judged;
- `sign`: sign one MP4 and require it to read back valid;
- `publish`: `Publication`, the only way an MP4 reaches the outputs folder;
- `reading`: read a file's manifest under a `trust.TrustPolicy` and detect its watermark.

This package imports nothing at import time so that `import sonic_ext` stays fast.
"""
