"""Configuration: TOML file -> validated, typed, frozen sections.

Sources, later ones winning: built-in defaults (equal to config/panikid.toml),
the file (``--config``, else ``$PANIKID_CONFIG``, else /etc/panikid/panikid.toml
when it exists), then environment variables ``PANIKID_<SECTION>_<KEY>`` (for
example ``PANIKID_AUDIO_INPUT_DEVICE=2``), which is what a service file needs.

Every problem is reported with the key that caused it and what is allowed;
unknown keys are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import re
import socket
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_SYSTEM_PROMPT = (
    "You are Panikid, a friendly voice assistant on a small computer at home. "
    "Your replies are spoken aloud: answer in one short sentence, in plain words, "
    "with no lists, no markdown and no emojis. "
    "If you do not know the answer, say you don't know; never make up facts."
)


class ConfigError(Exception):
    """The configuration is invalid. The message names the key and what is allowed."""


def _opt(default: Any, doc: str, **rules: Any) -> Any:
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"doc": doc, **rules})
    return field(default=default, metadata={"doc": doc, **rules})


def machine_device_id(hostname: str | None = None, machine_id_file: str = "/etc/machine-id") -> str:
    """A name for this machine that no other has: its host name and 6 hex digits derived from its
    machine id (``/etc/machine-id``), e.g. ``raspberrypi-3f2a1c``; the host name alone without one."""
    host = re.sub(r"[^A-Za-z0-9_-]+", "-", hostname if hostname is not None else socket.gethostname()).strip("-")
    host = host[:40] or "panikid"
    try:
        mid = Path(machine_id_file).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        mid = ""
    if not mid:
        return host
    return f"{host}-{hashlib.sha256(f'panikid:{mid}'.encode()).hexdigest()[:6]}"


@dataclass(frozen=True)
class GeneralConfig:
    device_id: str = _opt("", "Name of this device (MQTT topics and client id, logs); empty = this machine's own: its host name and a part of a hash of /etc/machine-id (two devices on one broker must differ).", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    log_level: str = _opt("info", "Log level.", choices=["debug", "info", "warning", "error"])
    low_memory: bool = _opt(False, "Give large buffers back to the system as soon as they are freed: about 130 MB less peak memory for about 100 ms more before each reply is heard (for boards with 1 GB or less).")

    def __post_init__(self) -> None:
        if not self.device_id:
            object.__setattr__(self, "device_id", machine_device_id())


@dataclass(frozen=True)
class AudioConfig:
    backend: str = _opt("sounddevice", "Audio library for local devices.", choices=["sounddevice", "pyaudio"])
    input_device: str = _opt("", "Capture device: name (or part of it) or index; empty = system default.")
    output_device: str = _opt("", "Playback device: name (or part of it) or index; empty = system default.")
    input_sample_rate: int = _opt(0, "Capture rate; 0 = 16000 if the device takes it, else its default.", min=0, max=192000)
    output_sample_rate: int = _opt(0, "Playback rate; 0 = the voice's rate if the device takes it, else its default.", min=0, max=192000)
    input_channels: int = _opt(0, "Capture channels (mixed down to mono); 0 = 1 if the device takes it, else 2 or all it has.", min=0, max=32)
    output_channels: int = _opt(0, "Playback channels (mono copied to each); 0 = 1 if the device takes it, else 2 or all it has.", min=0, max=32)
    frame_ms: int = _opt(30, "Capture block length in milliseconds.", choices=[20, 30, 40, 60, 80])
    output_latency_ms: int = _opt(40, "Playback latency asked of the device: lower is heard sooner, too low crackles on a busy machine.", min=5, max=1000)
    volume: float = _opt(1.0, "Playback volume (0 to 1).", min=0.0, max=1.0)


@dataclass(frozen=True)
class WakeConfig:
    engine: str = _opt("micro", "Wake word engine: microWakeWord or openWakeWord.", choices=["micro", "open"])
    models: list[str] = _opt(["okay_nabu"], "Wake words: built-in names, names in custom_models_dir, or model file paths.", min_items=1)
    threshold: float = _opt(0.0, "Detection threshold (0 to 1); 0 = the model's recommended cutoff.", min=0.0, max=1.0)
    cooldown_seconds: float = _opt(2.0, "Ignore the wake word for this long after a detection.", min=0.0, max=60.0)
    playback_threshold: float = _opt(0.5, "Detection threshold while the local speaker plays a reply (known with echo cancellation), when lower than the usual one: the canceller takes some of your voice with the reply's echo. 0 = the usual threshold.", min=0.0, max=1.0)
    custom_models_dir: str = _opt("", "Directory with custom wake word models (name.json + name.tflite, or name.tflite).")
    during_replies: bool = _opt(True, "Listen for the wake word while a reply plays, so it can cut in; false = not (the fallback for a microphone that hears the speaker with no echo canceller: then a stop word or the stop command cuts a reply).")
    stop_models: list[str] = _opt([], "Stop words: models (as in models) that, heard while a reply plays, stop it without starting a turn, e.g. a microWakeWord 'stop' model in custom_models_dir; empty = none (the wake word still cuts in).")

    def __post_init__(self) -> None:
        both = sorted(set(self.models) & set(self.stop_models))
        if both:
            raise ConfigError(f"wake.stop_models: {both[0]!r} is in wake.models too; a model is a wake word or "
                              "a stop word, not both")


@dataclass(frozen=True)
class FrontendConfig:
    high_pass: bool = _opt(True, "Microphone: filter out rumble and hum below ~80 Hz (WebRTC's high-pass filter).")
    noise_suppression: bool = _opt(True, "Microphone: suppress background noise (WebRTC NS) before the wake word, the VAD and speech-to-text.")
    noise_suppression_level: int = _opt(1, "How strongly noise is suppressed: 0 to 3 (6, 12, 18, 21 dB).", min=0, max=3)
    auto_gain: bool = _opt(False, "Microphone: automatic gain control (WebRTC AGC2) for a quiet or distant speaker.")
    echo_cancellation: bool = _opt(True, "Microphone: take the assistant's own voice (what the local speaker plays) out of it (WebRTC AEC3), so its replies and cues do not wake it.")
    duck_db: float = _opt(15.0, "Replies: turn the reply down by this many dB while someone talks over it, so the wake word comes through the echo canceller (0 = never; works with echo_cancellation).", min=0.0, max=40.0)
    normalize_output: bool = _opt(True, "Replies: bring speech to a steady loudness (output_level_dbfs) whatever the voice model.")
    output_level_dbfs: float = _opt(-20.0, "Replies: loudness of speech after normalization, in dBFS (RMS of voiced audio).", min=-40.0, max=-6.0)


@dataclass(frozen=True)
class VadConfig:
    engine: str = _opt("webrtc", "Voice activity detector.", choices=["webrtc", "silero"])
    aggressiveness: int = _opt(2, "webrtc: how aggressively non-speech is filtered out (0 to 3).", min=0, max=3)
    threshold: float = _opt(0.5, "silero: speech probability threshold.", min=0.01, max=0.99)
    speech_seconds: float = _opt(0.1, "Speech needed before the user counts as speaking.", min=0.01, max=2.0)
    silence_seconds: float = _opt(0.6, "Silence that ends the user's turn.", min=0.1, max=5.0)
    max_seconds: float = _opt(15.0, "Longest user turn.", min=1.0, max=120.0)
    no_speech_seconds: float = _opt(5.0, "Give up when nothing is said this long after the wake word.", min=0.5, max=60.0)
    pre_roll_seconds: float = _opt(0.3, "The command starts this long before the wake word was detected (detection lags the spoken word).", min=0.0, max=1.0)


@dataclass(frozen=True)
class TurnConfig:
    model: str = _opt("none", "End-of-turn model, asked at each short pause whether the sentence sounds finished: 'smart-turn-v3.2' (bundled), an .onnx path, or 'none' (the turn ends after vad.silence_seconds of silence).")
    pause_seconds: float = _opt(0.2, "Pause after which the model is asked.", min=0.05, max=2.0)
    threshold: float = _opt(0.5, "The model's probability above which the turn is complete.", min=0.01, max=0.99)
    max_pause_seconds: float = _opt(1.6, "With a model: the longest pause waited out when the sentence sounds unfinished ('set a timer for ... ten minutes').", min=0.2, max=10.0)
    threads: int = _opt(1, "CPU threads of the model.", min=1, max=64)


def tcp_uri(key: str, uri: str) -> tuple[str, int]:
    """The host and port of a ``tcp://host:port`` URI; a ConfigError naming ``key`` otherwise."""
    from urllib.parse import urlsplit

    bad = ConfigError(f"{key}: got {uri!r}, allowed: tcp://HOST:PORT (a Wyoming server, e.g. tcp://192.168.1.20:10300)")
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme != "tcp" or not parts.hostname or port is None or not 1 <= port <= 65535:
        raise bad
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username or parts.password:
        raise bad
    return parts.hostname, port


def _check_remote(section: str, engine: str, uri: str) -> None:
    if engine == "wyoming":
        if not uri:
            raise ConfigError(f"{section}.uri: {section}.engine is 'wyoming', so {section}.uri must name the "
                              "server: tcp://HOST:PORT")
        tcp_uri(f"{section}.uri", uri)
    elif uri:
        tcp_uri(f"{section}.uri", uri)  # kept for later, but never a malformed one


@dataclass(frozen=True)
class SttConfig:
    engine: str = _opt("whisper", "Speech-to-text engine: 'whisper' (faster-whisper on this machine) or 'wyoming' (a Wyoming speech-to-text server at uri, e.g. wyoming-faster-whisper on a bigger box; the local model stays loaded as its fallback).", choices=["whisper", "wyoming"])
    uri: str = _opt("", "engine = 'wyoming': the server, tcp://HOST:PORT (wyoming-faster-whisper listens on 10300).")
    remote_timeout_seconds: float = _opt(5.0, "engine = 'wyoming': a server that has not sent the transcript this long after the end of the utterance is given up and the local model answers (the server is then skipped for a while).", min=0.2, max=120.0)
    model: str = _opt("tiny.en", "Whisper model: 'tiny.en' (bundled), a CTranslate2 model directory, or 'hf:owner/name'.")
    language: str = _opt("en", "Spoken language (ISO code).", pattern=r"^[a-z]{2,3}$")
    beam_size: int = _opt(1, "Beam size (1 is fastest).", min=1, max=10)
    compute_type: str = _opt("int8", "CTranslate2 compute type.", choices=["int8", "int8_float32", "float32", "default"])
    threads: int = _opt(0, "CPU threads; 0 = all cores.", min=0, max=64)
    audio_context: str = _opt("adaptive", "Encoder input: 'adaptive' (the utterance plus 10 s, ~4x faster) or 'full' (always 30 s).", choices=["adaptive", "full"])

    def __post_init__(self) -> None:
        _check_remote("stt", self.engine, self.uri)


@dataclass(frozen=True)
class LlmConfig:
    model: str = _opt("smollm2-135m", "Local model: 'smollm2-135m' (bundled), a .gguf path, or 'hf:owner/name/file.gguf'.")
    system_prompt: str = _opt(DEFAULT_SYSTEM_PROMPT, "System prompt (keep it suited to speech).")
    max_tokens: int = _opt(96, "Longest reply, in tokens.", min=8, max=4096)
    temperature: float = _opt(0.2, "Sampling temperature.", min=0.0, max=2.0)
    repeat_penalty: float = _opt(1.15, "Penalty for repeating tokens (small models loop without it; 1 = off).", min=1.0, max=2.0)
    context_size: int = _opt(1024, "Context window, in tokens.", min=256, max=131072)
    threads: int = _opt(0, "CPU threads; 0 = all cores.", min=0, max=64)


@dataclass(frozen=True)
class TtsConfig:
    engine: str = _opt("piper", "Text-to-speech engine: 'piper', 'wyoming' (a Wyoming server at uri, e.g. wyoming-piper on a bigger box, with this machine's voice as its fallback), or another one in panikid/speech/tts/engine.py.", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    voice: str = _opt("en_US-joe-medium", "Piper voice: 'en_US-joe-medium' (bundled), an .onnx path, or 'hf:owner/name/file.onnx'.")
    length_scale: float = _opt(1.0, "Speaking rate: below 1 is faster.", min=0.3, max=3.0)
    speaker_id: int = _opt(0, "Speaker of a multi-speaker voice.", min=0, max=10000)
    uri: str = _opt("", "engine = 'wyoming': the Wyoming text-to-speech server, tcp://HOST:PORT (wyoming-piper listens on 10200); the local voice stays loaded as its fallback.")
    remote_timeout_seconds: float = _opt(3.0, "engine = 'wyoming': a server whose first audio for a sentence takes longer is given up and the local voice speaks the sentence (the server is then skipped for a while).", min=0.2, max=120.0)
    remote_voice: str = _opt("", "engine = 'wyoming': the server's voice to ask for (a name its info lists); empty = the server's default voice.")

    def __post_init__(self) -> None:
        _check_remote("tts", self.engine, self.uri)


@dataclass(frozen=True)
class CuesConfig:
    wake: str = _opt("chime", "Sound when the assistant starts listening (wake word, listen command, follow-up): 'chime', 'done', 'error', a WAV file, or 'none'.")
    end: str = _opt("none", "Sound when it stops listening (the end of your turn): 'chime', 'done', 'error', a WAV file, or 'none'.")
    error: str = _opt("error", "Sound when a turn fails (nothing understood and no spoken reply configured, or an error): 'chime', 'done', 'error', a WAV file, or 'none'.")
    level: float = _opt(0.3, "Loudness of the built-in cues (0 to 1 of full scale; the playback volume applies too).", min=0.0, max=1.0)
    not_understood: str = _opt("Sorry, I didn't catch that.", "Spoken when speech was heard but nothing intelligible came of it; empty = say nothing (the error cue plays).")


@dataclass(frozen=True)
class RouterConfig:
    policy: str = _opt("local-first", "Which brain answers: local-first, cloud-first, local-only or cloud-only.",
                       choices=["local-first", "cloud-first", "local-only", "cloud-only"])
    first_token_seconds: float = _opt(4.0, "Give up on a brain (and try the next) when its first words take longer.", min=0.2, max=120.0)
    total_seconds: float = _opt(30.0, "Longest time a whole reply may take.", min=1.0, max=600.0)
    breaker_failures: int = _opt(3, "Failures in a row after which a brain is skipped for a cool-down.", min=1, max=100)
    breaker_cooldown_seconds: float = _opt(30.0, "How long a failing brain is skipped before it is tried again.", min=1.0, max=3600.0)
    tools: bool = _opt(True, "Offer the instant intents' actions (timers, volume, time, stop, mute) to cloud models (every cloud provider) as function-calling tools.")


@dataclass(frozen=True)
class CloudConfig:
    provider: str = _opt("none", "Cloud LLM provider.", choices=["none", "openai", "azure", "anthropic", "gemini"])
    model: str = _opt("", "Model name (for azure: the deployment name is used when this is empty).")
    base_url: str = _opt("", "Server URL; empty = the vendor's own. For openai: any OpenAI-compatible server (Ollama, vLLM, llama.cpp).")
    api_key_env: str = _opt("", "Environment variable holding the API key; empty = PANIKID_CLOUD_API_KEY, then the vendor's usual variable.", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$|^$")
    credential: str = _opt("", "systemd credential holding the API key (file in $CREDENTIALS_DIRECTORY, also found with the unit's secrets_ prefix); empty = <provider>_api_key, e.g. openai_api_key.")
    azure_endpoint: str = _opt("", "azure: the resource endpoint, https://NAME.openai.azure.com.")
    azure_deployment: str = _opt("", "azure: the deployment name.")
    api_version: str = _opt("2024-10-21", "azure: the API version.")
    timeout_seconds: float = _opt(30.0, "Network timeout of one request.", min=1.0, max=600.0)
    connect_seconds: float = _opt(1.5, "A cloud that does not accept the connection this fast is skipped.", min=0.1, max=60.0)
    max_tokens: int = _opt(256, "Longest cloud reply, in tokens.", min=8, max=32768)
    temperature: float = _opt(0.7, "Sampling temperature of the cloud model.", min=0.0, max=2.0)


@dataclass(frozen=True)
class ContextConfig:
    strategy: str = _opt("sliding-window", "How the conversation history is kept within its budget.",
                         choices=["sliding-window", "summarize"])
    max_tokens: int = _opt(512, "Budget of the remembered conversation, in tokens (the system prompt not counted).", min=0, max=100000)
    max_turns: int = _opt(8, "Most question/answer pairs remembered.", min=0, max=200)
    idle_reset_seconds: float = _opt(300.0, "Forget the conversation after this long without a turn; 0 = never.", min=0.0, max=86400.0)
    persona: str = _opt("", "Extra instructions added to the system prompt (a name, a character, a language).")
    follow_up_seconds: float = _opt(0.0, "Follow-up mode: after a reply, listen this long for another question without the wake word; 0 = off.", min=0.0, max=30.0)


@dataclass(frozen=True)
class IntentsConfig:
    enabled: bool = _opt(True, "Answer everyday commands (time, timers, volume, stop) without the LLM.")
    max_timers: int = _opt(10, "Most timers running at once.", min=1, max=100)
    actions: list[str] = _opt([], "Your own commands: \"PHRASE | TOPIC | PAYLOAD\" (optional \"| REPLY\"); saying PHRASE publishes PAYLOAD to TOPIC over MQTT.")


@dataclass(frozen=True)
class MqttConfig:
    enabled: bool = _opt(False, "Connect to an MQTT broker (Home Assistant, Node-RED).")
    hermes: bool = _opt(False, "Also speak the Hermes (Rhasspy/Snips) topics: hotword detected, asr textCaptured, tts say/sayFinished, hotword toggleOn/Off.")
    host: str = _opt("localhost", "Broker host name or address.")
    port: int = _opt(1883, "Broker port (8883 is usual with TLS).", min=1, max=65535)
    topic_prefix: str = _opt("panikid", "Topics live under <topic_prefix>/<device_id>/.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    discovery_prefix: str = _opt("homeassistant", "Home Assistant discovery prefix; empty = no discovery.", pattern=r"^[A-Za-z0-9_-]{0,64}$")
    client_id: str = _opt("", "MQTT client id; empty = panikid-<device_id>.")
    username: str = _opt("", "User name; empty = connect anonymously.")
    password_file: str = _opt("", "File holding the password (first line); the environment variable PANIKID_MQTT_PASSWORD wins.")
    tls: bool = _opt(False, "Connect with TLS.")
    ca_file: str = _opt("", "TLS: CA certificate file to trust; empty = the system's CAs.")
    keepalive: int = _opt(30, "Seconds between keep-alive pings.", min=5, max=3600)
    qos_state: int = _opt(1, "QoS of retained state, settings, availability and discovery.", min=0, max=2)
    qos_event: int = _opt(0, "QoS of events.", min=0, max=2)
    qos_command: int = _opt(1, "QoS of command subscriptions.", min=0, max=2)
    reconnect_max_seconds: float = _opt(30.0, "Longest wait between reconnect attempts.", min=1.0, max=600.0)
    arbitration: bool = _opt(False, "Wake arbitration with the other devices of arbitration_group on this broker: when several hear the wake word, the one that heard it loudest answers, the others go back to idle. Every wake word then waits arbitration_window_seconds; with the broker down this device answers alone, at once.")
    arbitration_group: str = _opt("home", "The devices that arbitrate together (one home, one floor): claims are shared on <topic_prefix>/arbitration/<arbitration_group>.", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    arbitration_window_seconds: float = _opt(0.2, "How long a wake word waits for the other devices' claims before the loudest answers: longer copes with slower devices and networks, and delays every wake word as much.", min=0.05, max=1.0)

    def __post_init__(self) -> None:
        if self.arbitration and not self.enabled:
            raise ConfigError("mqtt.arbitration: the devices agree through the MQTT broker, so it needs "
                              "mqtt.enabled = true (or set mqtt.arbitration = false)")


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = _opt(True, "Serve the local WebSocket API, /healthz, /metrics and the status page.")
    host: str = _opt("127.0.0.1", "Address to listen on; anything but loopback needs a token.")
    port: int = _opt(8787, "Port of the HTTP and WebSocket server.", min=1, max=65535)
    token_file: str = _opt("", "File holding the access token (first line); the environment variable PANIKID_WEB_TOKEN wins.")
    allowed_origins: list[str] = _opt([], "Browser origins allowed besides the server's own (e.g. 'http://ha.local:8123').")
    allowed_hosts: list[str] = _opt([], "Host names the server answers to besides localhost, 127.0.0.1, ::1, web.host and addresses (e.g. 'pi.local'); a request for any other name is refused (DNS rebinding).")
    audio_sessions: bool = _opt(True, "Let a browser (the status page's Talk button, WebRTC) or a program (the /audio WebSocket) be the microphone and speaker; one conversation at a time: a session takes the floor from the local microphone until it ends.")
    session_timeout_seconds: float = _opt(2.0, "A remote audio session that sends no audio for this long (tab closed, network gone) is ended and the floor returns to the local microphone.", min=0.5, max=60.0)
    max_message_bytes: int = _opt(4096, "Largest WebSocket message accepted from a client.", min=256, max=1048576)
    client_queue: int = _opt(256, "Messages queued for one WebSocket client before it is dropped as too slow.", min=8, max=100000)
    tls: str = _opt("off", "Serve https instead of http: browsers let a page use the microphone only over https (or on localhost). 'self-signed': a certificate panikid makes once and keeps in web.cert_dir (accept it once in the browser, or compare the fingerprint `panikid web-cert` prints); 'files': web.cert_file and web.key_file.", choices=["off", "self-signed", "files"])
    cert_file: str = _opt("", "web.tls = 'files': the certificate (PEM; the server's first, then any intermediates).")
    key_file: str = _opt("", "web.tls = 'files': its private key (PEM, not encrypted).")
    cert_dir: str = _opt("", "web.tls = 'self-signed': where the certificate and key are kept; empty = the service's state directory ($STATE_DIRECTORY, /var/lib/panikid under systemd), else ~/.local/state/panikid.")


@dataclass(frozen=True)
class SatelliteConfig:
    enabled: bool = _opt(False, "Be a Home Assistant Assist satellite (the Wyoming protocol): Home Assistant's Wyoming integration adopts the device, and after panikid's wake word Home Assistant's Assist pipeline (its speech-to-text, conversation agent, text-to-speech) answers. While Home Assistant is not connected, panikid answers itself.")
    host: str = _opt("0.0.0.0", "Address the satellite listens on once enabled (all of the device's addresses by default, for Home Assistant on another machine). The protocol has no authentication: see satellite.allowed_peers.")
    port: int = _opt(10700, "Port of the satellite (Wyoming's usual one).", min=1, max=65535)
    name: str = _opt("", "Name Home Assistant shows; empty = general.device_id.", pattern=r"^[^\x00-\x1f]{0,64}$")
    area: str = _opt("", "Area suggested to Home Assistant (e.g. 'Kitchen'); empty = none.", pattern=r"^[^\x00-\x1f]{0,64}$")
    zeroconf: bool = _opt(True, "Announce the satellite on the local network (mDNS, _wyoming._tcp) so Home Assistant discovers it.")
    allowed_peers: list[str] = _opt([], "Addresses or networks (CIDR) allowed to connect, e.g. ['192.168.1.10'] (Home Assistant's); empty = loopback and private (LAN) addresses only. Anyone allowed can hear what the microphone hears after the wake word.")
    max_listen_seconds: float = _opt(15.0, "Longest a command is streamed to Home Assistant after the wake word (its own voice activity detection normally ends it sooner).", min=1.0, max=60.0)

    def __post_init__(self) -> None:
        import ipaddress

        for peer in self.allowed_peers:
            try:
                ipaddress.ip_network(peer, strict=False)
            except ValueError:
                raise ConfigError(f"satellite.allowed_peers: got {peer!r}, allowed: IP addresses or networks "
                                  "such as '192.168.1.10' or '192.168.1.0/24'") from None


@dataclass(frozen=True)
class ServiceConfig:
    watchdog: bool = _opt(True, "Under systemd: send watchdog keep-alives while the pipeline is alive.")
    audio_timeout_seconds: float = _opt(5.0, "Watchdog: the pipeline counts as stalled after this long without an audio frame.", min=0.5, max=300.0)


@dataclass(frozen=True)
class ModelsConfig:
    cache_dir: str = _opt("", "Where models named 'hf:...' are stored; empty = ~/.cache/panikid/models.")
    allow_download: bool = _opt(True, "Allow downloading 'hf:...' models that are not in the cache yet.")


@dataclass(frozen=True)
class Config:
    general: GeneralConfig = field(default_factory=GeneralConfig)
    audio: AudioConfig = field(default_factory=AudioConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    wake: WakeConfig = field(default_factory=WakeConfig)
    vad: VadConfig = field(default_factory=VadConfig)
    turn: TurnConfig = field(default_factory=TurnConfig)
    stt: SttConfig = field(default_factory=SttConfig)
    llm: LlmConfig = field(default_factory=LlmConfig)
    tts: TtsConfig = field(default_factory=TtsConfig)
    cues: CuesConfig = field(default_factory=CuesConfig)
    router: RouterConfig = field(default_factory=RouterConfig)
    cloud: CloudConfig = field(default_factory=CloudConfig)
    context: ContextConfig = field(default_factory=ContextConfig)
    intents: IntentsConfig = field(default_factory=IntentsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    web: WebConfig = field(default_factory=WebConfig)
    satellite: SatelliteConfig = field(default_factory=SatelliteConfig)
    service: ServiceConfig = field(default_factory=ServiceConfig)
    models: ModelsConfig = field(default_factory=ModelsConfig)
    source: str = field(default="built-in defaults", compare=False)


SECTIONS: dict[str, type] = {
    name: tp for name, tp in typing.get_type_hints(Config).items() if name != "source"
}


# Reading and checking a configuration; part of this module's interface (config.load, config.build, ...).
from .config_loader import (  # noqa: E402, F401  (it needs the sections above)
    SYSTEM_CONFIG,
    apply_env,
    build,
    config_path,
    documented_defaults,
    load,
    replace,
    to_dict,
)

