"""The command line: panikid run | transcribe | say | ask | check | devices | models | web-cert | bench | eval.

Exit status: 0 success, 1 a problem (bad input file, missing device, failed
check), 2 invalid configuration (the message names the key and what is allowed).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence

from . import __version__
from . import config as config_mod
from .config import Config, ConfigError

log = logging.getLogger("panikid")

EXIT_OK, EXIT_PROBLEM, EXIT_CONFIG = 0, 1, 2


class UserError(Exception):
    """An error the user can act on: printed as one line, no traceback."""

    def __init__(self, message: str, code: int = EXIT_PROBLEM) -> None:
        super().__init__(message)
        self.code = code


def _setup_logging(cfg: Config | None, verbose: bool) -> None:
    level = logging.DEBUG if verbose else getattr(logging, (cfg.general.log_level if cfg else "info").upper())
    from .service.logging import setup_logging

    setup_logging(level)  # the journal under systemd, stderr otherwise; secrets and audio redacted


def _load_config(args: argparse.Namespace) -> Config:
    cfg = config_mod.load(args.config)
    _setup_logging(cfg, args.verbose)
    return cfg


# ----------------------------------------------------------------------------- commands

def cmd_run(args: argparse.Namespace) -> int:
    from .app.daemon import Daemon, RunOptions
    from .audio.wav import read_wav

    cfg = _load_config(args)
    remote_only = _remote_only(args, cfg)
    if args.input:
        read_wav(args.input)  # a bad input file fails before the models load
    events_out = None
    if args.events == "-":
        events_out = sys.stdout
    elif args.events:
        events_out = open(args.events, "a", encoding="utf-8")  # noqa: SIM115 (closed below)
    try:
        from .app.surfaces import build_surfaces

        opts = RunOptions(args.input, args.output, args.pace, events_out, remote_only=remote_only)
        return asyncio.run(Daemon(cfg, opts, surfaces=build_surfaces(cfg)).run())
    finally:
        if events_out not in (None, sys.stdout):
            events_out.close()  # type: ignore[union-attr]


def _remote_only(args: argparse.Namespace, cfg: Config) -> bool:
    """``--audio``: local devices (a missing microphone is an error), remote sessions only, or ``auto``:
    remote sessions when no microphone is found (a headless box). Prints where to talk from."""
    from .audio import devices
    from .control.web.surface import is_loopback

    if args.audio != "local" and (args.input or args.output):
        raise UserError(f"--audio {args.audio} cannot be combined with --input/--output (files are local audio)",
                        EXIT_CONFIG)
    remote = args.audio == "remote"
    if args.audio in ("local", "auto") and not args.input:
        try:
            devices.check_capture_available(cfg.audio)
        except devices.AudioDeviceError as exc:
            if args.audio == "local":
                raise
            print(f"panikid: no microphone here ({exc}); talk to panikid from a browser instead", file=sys.stderr)
            remote = True
    if remote:
        if not (cfg.web.enabled and cfg.web.audio_sessions):
            raise UserError("remote audio needs the web surface: set web.enabled = true and web.audio_sessions = "
                            "true, or use --input WAV", EXIT_CONFIG)
        print(f"panikid: open {talk_url(cfg)} and press Talk", file=sys.stderr)
        if is_loopback(cfg.web.host):
            print(f"panikid: from another machine: ssh -L {cfg.web.port}:127.0.0.1:{cfg.web.port} THIS-HOST, then "
                  f"open http://127.0.0.1:{cfg.web.port}/ there (or set web.host, a token and web.tls: see README)",
                  file=sys.stderr)
    return remote


def talk_url(cfg: Config) -> str:
    """The status page's address, as a browser on this machine (or the LAN, when web.host says so) opens it."""
    import socket

    from .control.web.surface import is_loopback

    w = cfg.web
    scheme = "http" if w.tls == "off" else "https"
    if w.host in ("0.0.0.0", "::"):  # every interface: the machine's name
        host = socket.gethostname()
    else:
        host = "127.0.0.1" if is_loopback(w.host) else w.host
    return f"{scheme}://{host}:{w.port}/"


def _beam_size(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--beam-size must be a whole number from 1 to 10, not {text!r}") from None
    if not 1 <= value <= 10:
        raise argparse.ArgumentTypeError(f"--beam-size must be from 1 to 10, not {value}")
    return value


def cmd_transcribe(args: argparse.Namespace) -> int:
    from .app.components import load_stt
    from .audio.wav import read_wav

    cfg = _load_config(args)
    pcm, _info = read_wav(args.wav)
    stt = load_stt(cfg)
    print(stt.transcribe_recording(pcm, beam_size=args.beam_size))
    return EXIT_OK


def cmd_say(args: argparse.Namespace) -> int:
    from .app.components import load_tts
    from .audio.wav import write_wav

    cfg = _load_config(args)
    if not args.text.strip():
        raise UserError("say: the text is empty")
    tts = load_tts(cfg)
    pcm = tts.synthesize_all(args.text)
    write_wav(args.output, pcm, tts.sample_rate)
    print(f"wrote {len(pcm) / 2 / tts.sample_rate:.2f} s of speech to {args.output}", file=sys.stderr)
    return EXIT_OK


def cmd_ask(args: argparse.Namespace) -> int:
    import threading

    from .app.components import load_llm, load_router
    from .brains.factory import policy_for
    from .brains.processor import AssistantProcessor
    from .brains.prompt import APOLOGY

    cfg = _load_config(args)
    if not args.text.strip():
        raise UserError("ask: the question is empty")
    if args.backend == "cloud" and cfg.cloud.provider == "none":
        raise UserError("ask: no cloud backend is configured (set cloud.provider, cloud.model and the API key)")
    policy = policy_for(args.backend, cfg.router.policy)
    local = load_llm(cfg) if policy != "cloud-only" else None
    router = load_router(cfg, local)
    messages = AssistantProcessor(router, cfg.llm.system_prompt, persona=cfg.context.persona).messages_for(args.text)
    wrote = False
    for piece in router.stream(messages, threading.Event(), policy=policy):
        sys.stdout.write(piece)
        sys.stdout.flush()
        wrote = True
    outcome = router.last
    if outcome.error is not None and not wrote:
        sys.stdout.write(APOLOGY)
    sys.stdout.write("\n")
    print(f"backend: {outcome.backend or 'none'}", file=sys.stderr)
    if outcome.fallback_reason:
        print(f"fallback: {outcome.fallback_reason}", file=sys.stderr)
    if outcome.error is not None:
        print(f"panikid: ask: {outcome.error}", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from .doctor.checks import run_checks

    try:
        cfg = config_mod.load(args.config)
    except ConfigError as exc:
        print(f"config: INVALID: {exc}")
        return EXIT_CONFIG
    _setup_logging(cfg, args.verbose)
    return run_checks(cfg, sys.stdout)


def cmd_reload(args: argparse.Namespace) -> int:
    """systemd's ExecReload=: check the file first, and only then signal the daemon, so a refused file makes
    ``systemctl reload`` fail and the running configuration stays (the daemon checks it again itself)."""
    import os
    import signal

    try:
        config_mod.load(args.config)
    except ConfigError as exc:
        print(f"panikid reload: refused, the running configuration stays in effect: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    try:
        os.kill(args.pid, signal.SIGHUP)
    except OSError as exc:
        print(f"panikid reload: cannot signal the daemon (pid {args.pid}): {exc.strerror}", file=sys.stderr)
        return EXIT_PROBLEM
    return EXIT_OK


def cmd_devices(args: argparse.Namespace) -> int:
    from .audio import devices

    cfg = _load_config(args)
    print(devices.format_devices(cfg.audio.backend))
    return EXIT_OK


def cmd_models(args: argparse.Namespace) -> int:
    from . import models

    _load_config(args)
    if args.action == "list":
        print(models.format_list())
        return EXIT_OK
    results = models.verify()
    print(models.format_verify(results))
    return EXIT_OK if models.verify_ok(results) else EXIT_PROBLEM


def cmd_bench(args: argparse.Namespace) -> int:
    from .bench import run_bench

    cfg = _load_config(args)
    return run_bench(cfg, as_json=args.json, turns=args.turns, idle_seconds=args.idle_seconds)


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation.main import run_eval

    cfg = _load_config(args)  # an invalid file fails here, before the corpus is made
    return run_eval(args.slice, args.pace, args.config, cfg.source, args.out, args.json)


def cmd_web_cert(args: argparse.Namespace) -> int:
    from .control.web import tls

    cfg = _load_config(args)
    wcfg = cfg.web if cfg.web.tls != "off" else config_mod.replace(cfg, web={"tls": "self-signed"}).web
    try:
        cert = tls.certificate(wcfg, tls.state_dir())
    except tls.TlsError as exc:
        raise UserError(str(exc), EXIT_CONFIG) from exc
    assert cert is not None
    print(f"certificate: {cert.cert_file} ({'made now' if cert.made else 'kept'}, "
          f"valid until {cert.not_after:%Y-%m-%d})")
    print(f"sha256 fingerprint: {cert.fingerprint}")
    print(f"names: {', '.join(cert.names)}")
    if cfg.web.tls == "off":
        print('web.tls is "off": set it to "self-signed" to serve this certificate', file=sys.stderr)
    return EXIT_OK


# ----------------------------------------------------------------------------- parser

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="panikid", description="Offline-first voice assistant daemon.")
    p.add_argument("--version", action="version", version=f"panikid {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help)
        sp.add_argument("--config", metavar="FILE",
                        help="configuration file (default: $PANIKID_CONFIG, then /etc/panikid/panikid.toml, "
                             "then built-in defaults)")
        sp.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        sp.set_defaults(func=fn)
        return sp

    r = add("run", cmd_run, "run the assistant")
    r.add_argument("--input", metavar="WAV", help="use a WAV file as the microphone")
    r.add_argument("--output", metavar="WAV", help="write everything the speaker would play to a WAV file")
    r.add_argument("--pace", choices=["realtime", "fast"], default="realtime",
                   help="read --input in real time (default) or as fast as possible")
    r.add_argument("--events", metavar="-|FILE", help="write events as JSON lines to stdout (-) or a file")
    r.add_argument("--audio", choices=["local", "remote", "auto"], default="local",
                   help="local: the microphone and speaker (default; none found is an error); remote: only a "
                        "browser or program through the web surface; auto: remote when no microphone is found")

    t = add("transcribe", cmd_transcribe, "print the transcript of a WAV file")
    t.add_argument("wav", metavar="WAV")
    t.add_argument("--beam-size", type=_beam_size, default=5, metavar="N",
                   help="decoder beam, 1-10 (default 5: a recording is transcribed for accuracy; "
                        "the live loop uses stt.beam_size)")

    s = add("say", cmd_say, "speak TEXT into a WAV file")
    s.add_argument("text", metavar="TEXT")
    s.add_argument("--output", metavar="WAV", required=True)

    a = add("ask", cmd_ask, "answer TEXT with the language model (reply on stdout)")
    a.add_argument("text", metavar="TEXT")
    a.add_argument("--backend", choices=["auto", "local", "cloud"], default="auto")

    add("check", cmd_check,
        "check configuration, models and audio devices (exit 0 healthy, 1 problems, 2 invalid config)")
    add("devices", cmd_devices, "list capture and playback devices")
    rl = add("reload", cmd_reload, "check the configuration file, then make the running daemon (PID) read it "
                                   "again (exit 2, nothing signalled, when the file is invalid)")
    rl.add_argument("--pid", type=int, required=True, help="the daemon's process id (systemd: $MAINPID)")

    add("web-cert", cmd_web_cert, "make or load the web surface's https certificate (web.tls) and print its "
                                   "file, SHA-256 fingerprint and names")
    m = add("models", cmd_models, "list the models or verify their checksums")
    m.add_argument("action", choices=["list", "verify"])

    b = add("bench", cmd_bench, "measure latency, CPU and memory")
    b.add_argument("--json", action="store_true", help="print JSON instead of a table")
    b.add_argument("--turns", type=int, default=5, help="voice turns to measure (default 5)")
    b.add_argument("--idle-seconds", type=float, default=10.0, help="seconds of wake-word listening for idle CPU")

    e = add("eval", cmd_eval, "measure wake rate, turn success, WER and false wakes on a generated corpus")
    e.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    e.add_argument("--slice", choices=["ci", "noise", "full"], default="full",
                   help="ci: a few minutes; noise: clean, 10 and 5 dB SNR at two pauses (for the audio "
                        "front end); full (default): a rate for every pause and noise condition")
    e.add_argument("--pace", choices=["fast", "realtime"], default="fast",
                   help="fast (default) reads the audio as fast as the daemon takes it; realtime gives "
                        "meaningful latency figures and takes as long as the audio (ci: about 6 minutes)")
    e.add_argument("--out", metavar="DIR", help="write per-item results, the report and the daemon's events here")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_PROBLEM
    from .app.components import ComponentError
    from .app.daemon import AudioNotFlowingError
    from .audio.wav import AudioInputError
    from .models import ModelError

    try:
        devices_error: tuple[type[BaseException], ...] = ()
        try:
            from .audio.devices import AudioDeviceError

            devices_error = (AudioDeviceError,)
        except ImportError:
            pass
        try:
            return int(args.func(args))
        except devices_error as exc:  # type: ignore[misc]
            raise UserError(str(exc)) from exc
    except ConfigError as exc:
        print(f"panikid: invalid configuration: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (ComponentError, ModelError) as exc:
        print(f"panikid: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (AudioInputError, AudioNotFlowingError) as exc:
        print(f"panikid: {exc}", file=sys.stderr)
        return EXIT_PROBLEM
    except UserError as exc:
        print(f"panikid: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
