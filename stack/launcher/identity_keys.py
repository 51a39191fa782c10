"""A per-user cache of the local identity providers' RSA signing keys, so that ``swsim up`` does not generate three
2048-bit keys (0.2-0.6 s of CPU, on the critical path: the services need the issuers' JWKS) every time.

The identity server (``stack.identity``) loads ``<name>.key.pem`` from its keys directory and generates only the
missing ones; the launcher copies cached keys into a fresh keys directory before the server starts and caches
what the server generated afterwards. These keys sign tokens for loopback test issuers only (their issuer URLs
carry each run's port); ``SWSIM_KEY_CACHE=off`` turns the cache off, ``SWSIM_KEY_CACHE=DIR`` moves it.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "SWSIM_KEY_CACHE"
PATTERN = "*.key.pem"


def cache_dir() -> Path | None:
    setting = os.environ.get(ENV, "")
    if setting.lower() in ("off", "0", "no", "false"):
        return None
    if setting:
        return Path(setting)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "syncwell-sim" / "identity-keys"


def restore(keys_dir: Path) -> int:
    """Copy cached keys into ``keys_dir`` where it has none of that name; returns how many were copied."""
    cache = cache_dir()
    if cache is None or not cache.is_dir():
        return 0
    keys_dir.mkdir(parents=True, exist_ok=True)
    copied = 0
    for cached in cache.glob(PATTERN):
        target = keys_dir / cached.name
        if not target.exists():
            _copy_private(cached, target)
            copied += 1
    return copied


def remember(keys_dir: Path) -> None:
    """Cache the keys ``keys_dir`` holds that the cache does not (best effort: a read-only home is fine)."""
    cache = cache_dir()
    if cache is None or not keys_dir.is_dir():
        return
    try:
        cache.mkdir(parents=True, exist_ok=True, mode=0o700)
        for key in keys_dir.glob(PATTERN):
            if not (cache / key.name).exists():
                _copy_private(key, cache / key.name)
    except OSError:
        pass


def _copy_private(source: Path, target: Path) -> None:
    """Copy with mode 0600, atomically (a concurrent launcher sees the whole key or none)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            shutil.copyfileobj(source.open("rb"), handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
