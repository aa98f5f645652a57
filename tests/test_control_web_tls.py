"""The web surface over https (``[web] tls``): the self-signed pair made once and kept, files checked by key,
the real server answering only clients that trust its certificate, and a real Chromium seeing a secure context
(the microphone API) over https where plain http to the same name gives none.

The surface runs in its own thread and event loop on a control API that is the real daemon, not started (no
models are loaded).
"""

from __future__ import annotations

import asyncio
import shutil
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from daemons import run_cli
from helpers import free_port

from panikid import config
from panikid.app.daemon import Daemon, RunOptions
from panikid.control.web import tls
from panikid.control.web.surface import WebSurface
from panikid.events import Event

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _web(cert_dir: Path, **web: Any) -> config.WebConfig:
    return config.replace(config.Config(), web={"cert_dir": str(cert_dir), **web}).web


@contextmanager
def serving(cert_dir: Path, **web: Any) -> Iterator[tuple[WebSurface, list[Event]]]:
    """A real WebSurface on a free port, started and stopped in a thread of its own."""
    cfg = config.replace(config.Config(), web={"port": free_port(), "cert_dir": str(cert_dir), **web})
    surface, events = WebSurface(cfg, environ={}), []
    control = Daemon(cfg, RunOptions())
    control.bus.listen(events.append)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(surface.start(control), loop).result(30)
        yield surface, events
    finally:
        asyncio.run_coroutine_threadsafe(surface.stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# ---------------------------------------------------------------- the certificate

def test_the_self_signed_pair_is_made_once_then_kept_and_made_again_for_a_new_name(tmp_path: Path) -> None:
    first = tls.certificate(_web(tmp_path, tls="self-signed"), tmp_path / "unused")
    assert first is not None and first.made and first.cert_file.parent == tmp_path
    assert (first.key_file.stat().st_mode & 0o777) == 0o600
    assert {"localhost", "127.0.0.1", "::1"} <= set(first.names) and "pi.local" not in first.names
    assert len(first.fingerprint.split(":")) == 32 and first.fingerprint == first.fingerprint.upper()
    again = tls.certificate(_web(tmp_path, tls="self-signed"), tmp_path / "unused")
    assert again is not None and not again.made and again.fingerprint == first.fingerprint
    # A name the certificate does not cover yet: a new pair, with the old names and the new one.
    grown = tls.certificate(_web(tmp_path, tls="self-signed", allowed_hosts=["pi.local"]), tmp_path / "unused")
    assert grown is not None and grown.made and grown.fingerprint != first.fingerprint
    assert set(first.names) | {"pi.local"} <= set(grown.names)
    assert (grown.key_file.stat().st_mode & 0o777) == 0o600
    kept = tls.certificate(_web(tmp_path, tls="self-signed"), tmp_path / "unused")  # pi.local is still in it
    assert kept is not None and not kept.made and kept.fingerprint == grown.fingerprint


def test_a_pair_that_expires_or_cannot_be_read_is_made_again(tmp_path: Path) -> None:
    wcfg = _web(tmp_path, tls="self-signed")
    first = tls.self_signed(wcfg, tmp_path, hostname="pi", addresses=[])
    assert first.made and {"pi", "pi.local"} <= set(first.names)
    soon = first.not_after - tls.RENEW_BEFORE / 2
    renewed = tls.self_signed(wcfg, tmp_path, hostname="pi", addresses=[], now=soon)
    assert renewed.made and renewed.fingerprint != first.fingerprint and renewed.not_after > first.not_after
    (tmp_path / tls.CERT_NAME).write_text("not a certificate\n")
    again = tls.self_signed(wcfg, tmp_path, hostname="pi", addresses=[], now=soon)
    assert again.made and again.fingerprint != renewed.fingerprint
    assert not tls.self_signed(wcfg, tmp_path, hostname="pi", addresses=[], now=soon).made


def test_the_state_directory_is_systemds_or_the_users() -> None:
    assert tls.state_dir({"STATE_DIRECTORY": "/var/lib/panikid"}) == Path("/var/lib/panikid")
    assert tls.state_dir({"STATE_DIRECTORY": "/var/lib/panikid:/var/lib/other"}) == Path("/var/lib/panikid")
    assert tls.state_dir({}) == Path.home() / ".local/state/panikid"


def test_files_are_checked_and_errors_name_the_key(tmp_path: Path) -> None:
    made = tls.certificate(_web(tmp_path / "made", tls="self-signed"), tmp_path)
    assert made is not None
    missing = str(tmp_path / "nope.pem")
    with pytest.raises(tls.TlsError, match=r"^web\.cert_file: cannot read .*nope\.pem"):
        tls.certificate(_web(tmp_path, tls="files", cert_file=missing, key_file=str(made.key_file)), tmp_path)
    with pytest.raises(tls.TlsError, match=r"^web\.key_file: cannot read .*nope\.pem"):
        tls.certificate(_web(tmp_path, tls="files", cert_file=str(made.cert_file), key_file=missing), tmp_path)
    with pytest.raises(tls.TlsError, match=r"^web\.cert_file: .*is empty"):
        tls.certificate(_web(tmp_path, tls="files", key_file=str(made.key_file)), tmp_path)
    other = tls.certificate(_web(tmp_path / "other", tls="self-signed"), tmp_path)
    assert other is not None
    with pytest.raises(tls.TlsError, match=r"^web\.key_file: .* is not the key of the certificate"):
        tls.certificate(_web(tmp_path, tls="files", cert_file=str(made.cert_file), key_file=str(other.key_file)),
                        tmp_path)
    with pytest.raises(tls.TlsError, match=r"^web\.key_file: .* is not an unencrypted PEM private key"):
        tls.certificate(_web(tmp_path, tls="files", cert_file=str(made.cert_file), key_file=str(made.cert_file)),
                        tmp_path)
    served = tls.certificate(_web(tmp_path, tls="files", cert_file=str(made.cert_file), key_file=str(made.key_file)),
                             tmp_path)
    assert served is not None and served.fingerprint == made.fingerprint and not served.made
    assert isinstance(tls.server_context(_web(tmp_path, tls="files", cert_file=str(made.cert_file),
                                              key_file=str(made.key_file)), tmp_path), ssl.SSLContext)
    assert tls.server_context(_web(tmp_path), tmp_path) is None  # off


def test_panikid_web_cert_prints_the_file_fingerprint_and_names(tmp_path: Path) -> None:
    cfg = tmp_path / "panikid.toml"
    cfg.write_text(f'[web]\ntls = "self-signed"\ncert_dir = "{tmp_path}"\nallowed_hosts = ["pi.local"]\n')
    res = run_cli("web-cert", "--config", str(cfg), timeout=60)
    assert res.code == 0, res.stderr
    kept = tls.certificate(_web(tmp_path, tls="self-signed", allowed_hosts=["pi.local"]), tmp_path)
    assert kept is not None and not kept.made  # the command made it; this is the same pair
    assert f"certificate: {kept.cert_file}" in res.stdout and kept.fingerprint in res.stdout
    assert "pi.local" in res.stdout and "127.0.0.1" in res.stdout
    cfg.write_text(f'[web]\ntls = "files"\ncert_file = "{tmp_path}/nope.pem"\nkey_file = "{kept.key_file}"\n')
    res = run_cli("web-cert", "--config", str(cfg), timeout=60)
    assert res.code == 2 and "web.cert_file" in res.stderr and "Traceback" not in res.stderr, res.stderr


# ---------------------------------------------------------------- the server

def test_https_answers_a_client_that_trusts_the_certificate_and_no_other(tmp_path: Path) -> None:
    with serving(tmp_path, tls="self-signed") as (surface, _):
        url = f"https://127.0.0.1:{surface.port}/healthz"
        trusting = ssl.create_default_context(cafile=str(tmp_path / tls.CERT_NAME))  # that file only
        assert trusting.verify_mode == ssl.CERT_REQUIRED and trusting.check_hostname

        async def go() -> None:
            async with aiohttp.ClientSession() as http:
                async with http.get(url, ssl=trusting, server_hostname="localhost") as r:
                    assert r.status == 200 and (await r.json())["state"] == "idle"
                with pytest.raises(aiohttp.ClientConnectorCertificateError):
                    await http.get(url, ssl=ssl.create_default_context(), server_hostname="localhost")
                with pytest.raises(aiohttp.ClientConnectionError):  # plain http is not served on that port
                    await http.get(f"http://127.0.0.1:{surface.port}/healthz")

        asyncio.run(go())


def test_a_bad_tls_setting_is_an_error_event_and_nothing_is_served(tmp_path: Path) -> None:
    with serving(tmp_path, tls="files", cert_file=str(tmp_path / "nope.pem"), key_file="k.pem") as (surface, events):
        assert surface.runner is None and surface.port == 0
        errors = [e for e in events if e.type == "error"]
        assert len(errors) == 1 and errors[0].data["where"] == "web"
        assert errors[0].data["message"].startswith("web.cert_file: cannot read")


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed")
def test_chromium_has_the_microphone_api_over_https_by_name_and_not_over_http(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    probe = "() => [window.isSecureContext, typeof navigator.mediaDevices?.getUserMedia]"
    seen = {}
    with sync_playwright() as pw:
        for scheme, mode in (("https", "self-signed"), ("http", "off")):
            with serving(tmp_path, tls=mode, host="127.0.0.1", allowed_hosts=["pi.local"]) as (surface, _):
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
                    *ARGS, "--ignore-certificate-errors", "--host-resolver-rules=MAP pi.local 127.0.0.1"])
                try:
                    page = browser.new_page()
                    response = page.goto(f"{scheme}://pi.local:{surface.port}/")
                    assert response is not None and response.ok and "<title>panikid</title>" in page.content()
                    seen[scheme] = page.evaluate(probe)
                finally:
                    browser.close()
    assert seen["https"] == [True, "function"]
    assert seen["http"] == [False, "undefined"]
