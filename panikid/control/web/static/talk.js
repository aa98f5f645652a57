"use strict";
// Talk to panikid from this browser: its microphone is the assistant's, its speaker plays the replies.
// Two ways (the server takes one session at a time): WebRTC (Opus, the browser's echo canceller, the
// default when the server has aiortc) or raw 16 kHz s16le PCM over the /audio WebSocket (AudioWorklets).
// ?processing=off turns off the browser's echo cancellation, noise suppression and gain control.
// Everything played is also recorded by a tap (Talk.recording()), for checking what was heard.
const Talk = (() => {
  const params = new URLSearchParams(location.search);
  const token = params.get("token");
  const processing = params.get("processing") !== "off";
  const RATE = 16000, FRAME = 320;  // 20 ms at 16 kHz

  const WORKLETS = `
class Capture extends AudioWorkletProcessor {
  process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
}
class Player extends AudioWorkletProcessor {
  constructor() {
    super(); this.queue = []; this.head = 0; this.queued = 0; this.started = false;
    this.prebuffer = 960; this.max = 16000 * 2;
    this.port.onmessage = (e) => {
      if (e.data === "clear") { this.queue = []; this.head = 0; this.queued = 0; this.started = false; return; }
      this.queue.push(e.data); this.queued += e.data.length;
      while (this.queued > this.max && this.queue.length > 1) {  // too far behind: drop the oldest
        this.queued -= this.queue[0].length - this.head; this.queue.shift(); this.head = 0;
      }
    };
  }
  process(inputs, outputs) {
    const out = outputs[0][0];
    if (!this.started && this.queued >= this.prebuffer) this.started = true;
    for (let i = 0; i < out.length; i++) {
      if (!this.started || this.queue.length === 0) { out[i] = 0; continue; }
      const block = this.queue[0];
      out[i] = block[this.head++] / 32768;
      this.queued--;
      if (this.head >= block.length) { this.queue.shift(); this.head = 0; }
    }
    if (this.queue.length === 0) this.started = false;
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    return true;
  }
}
class Tap extends AudioWorkletProcessor {
  process(inputs) { const ch = inputs[0] && inputs[0][0]; if (ch) this.port.postMessage(ch.slice(0)); return true; }
}
registerProcessor("pk-capture", Capture); registerProcessor("pk-player", Player); registerProcessor("pk-tap", Tap);
`;

  let current = null;  // {kind, session, close()}
  const recorded = [];
  let recordedRate = RATE;
  let onEnd = () => {};

  function endpoint(path, ws) {
    const url = new URL(path, location.href);
    if (ws) url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
    if (token) url.searchParams.set("token", token);
    return url;
  }

  async function context(rate) {
    const ctx = rate ? new AudioContext({sampleRate: rate}) : new AudioContext();
    const blob = new Blob([WORKLETS], {type: "application/javascript"});
    await ctx.audioWorklet.addModule(URL.createObjectURL(blob));
    await ctx.resume();
    return ctx;
  }

  function tapInto(ctx, node) {
    // Record what is played: the tap is pulled through a silent gain to the destination.
    recordedRate = ctx.sampleRate;
    const tap = new AudioWorkletNode(ctx, "pk-tap");
    tap.port.onmessage = (e) => recorded.push(e.data);
    const mute = ctx.createGain(); mute.gain.value = 0;
    node.connect(tap); tap.connect(mute); mute.connect(ctx.destination);
  }

  async function microphone() {
    if (!navigator.mediaDevices) {
      throw new Error("this page is not a secure context: open it as https:// or http://127.0.0.1 / localhost");
    }
    return navigator.mediaDevices.getUserMedia({audio: {echoCancellation: processing, noiseSuppression: processing,
                                                        autoGainControl: processing, channelCount: 1}});
  }

  function finished(reason) {
    if (!current) return;
    const was = current; current = null;
    was.close();
    onEnd(reason || "ended");
  }

  async function startWebSocket() {
    const mic = await microphone();
    const ctx = await context(RATE);
    const ws = new WebSocket(endpoint("audio", true));
    ws.binaryType = "arraybuffer";
    const player = new AudioWorkletNode(ctx, "pk-player", {outputChannelCount: [1]});
    player.connect(ctx.destination);
    tapInto(ctx, player);
    const capture = new AudioWorkletNode(ctx, "pk-capture");
    const source = ctx.createMediaStreamSource(mic);
    const mute = ctx.createGain(); mute.gain.value = 0;
    source.connect(capture); capture.connect(mute); mute.connect(ctx.destination);
    let pending = new Int16Array(FRAME), filled = 0;
    capture.port.onmessage = (e) => {
      if (ws.readyState !== WebSocket.OPEN) return;
      for (const v of e.data) {
        pending[filled++] = Math.max(-32768, Math.min(32767, Math.round(v * 32768)));
        if (filled === FRAME) { ws.send(pending.buffer); pending = new Int16Array(FRAME); filled = 0; }
      }
    };
    let endReason = "closed";
    const close = () => { try { ws.close(); } catch (e) {} mic.getTracks().forEach((t) => t.stop()); ctx.close(); };
    const session = await new Promise((resolve, reject) => {
      ws.onmessage = (e) => {
        if (typeof e.data !== "string") { player.port.postMessage(new Int16Array(e.data)); return; }
        const m = JSON.parse(e.data);
        if (m.type === "session") resolve(m.session);
        else if (m.type === "clear") player.port.postMessage("clear");
        else if (m.type === "end") endReason = m.reason;
        else if (m.type === "error") console.warn("panikid audio:", m.message);
      };
      ws.onerror = () => reject(new Error("the audio WebSocket was refused (another session, or no token?)"));
      ws.onclose = () => { reject(new Error("the audio WebSocket closed")); finished(endReason); };
    });
    return {kind: "websocket", session, close, command: (cmd) => ws.send(JSON.stringify(cmd)), mic};
  }

  async function startWebRtc() {
    const mic = await microphone();
    const ctx = await context(0);
    const pc = new RTCPeerConnection({iceServers: []});
    mic.getTracks().forEach((t) => pc.addTrack(t, mic));
    const audio = new Audio(); audio.autoplay = true;
    pc.ontrack = (e) => {
      const stream = e.streams[0] || new MediaStream([e.track]);
      audio.srcObject = stream; audio.play().catch(() => {});
      tapInto(ctx, ctx.createMediaStreamSource(stream));  // WebAudio hears the track while the element plays it
    };
    await pc.setLocalDescription(await pc.createOffer());
    await new Promise((resolve) => {  // no trickle: send the offer with every host candidate
      if (pc.iceGatheringState === "complete") return resolve();
      const done = () => { if (pc.iceGatheringState === "complete") resolve(); };
      pc.addEventListener("icegatheringstatechange", done);
      setTimeout(resolve, 3000);
    });
    const close = () => { pc.close(); mic.getTracks().forEach((t) => t.stop()); audio.srcObject = null; ctx.close(); };
    const res = await fetch(endpoint("webrtc/offer"), {method: "POST", headers: {"Content-Type": "application/json"},
      body: JSON.stringify({sdp: pc.localDescription.sdp, type: pc.localDescription.type})});
    if (!res.ok) { close(); throw new Error(`the offer was refused (${res.status}): ${await res.text()}`); }
    const answer = await res.json();
    await pc.setRemoteDescription({type: answer.type, sdp: answer.sdp});
    pc.addEventListener("connectionstatechange", () => {
      if (["failed", "closed", "disconnected"].includes(pc.connectionState)) finished(pc.connectionState);
    });
    return {kind: "webrtc", session: answer.session, close, command: null, mic};
  }

  async function start(kind, whenEnded) {
    if (current) return current;
    onEnd = whenEnded || (() => {});
    current = {kind, close: () => {}};
    try {
      current = kind === "webrtc" ? await startWebRtc() : await startWebSocket();
    } catch (e) {
      current = null;
      throw e;
    }
    return current;
  }

  function recording() {
    // Everything played so far, as base64 s16le mono at recordedRate.
    let n = 0; for (const b of recorded) n += b.length;
    const pcm = new Int16Array(n); let i = 0;
    for (const b of recorded) for (const v of b) pcm[i++] = Math.max(-32768, Math.min(32767, Math.round(v * 32768)));
    let s = ""; const bytes = new Uint8Array(pcm.buffer);
    for (let j = 0; j < bytes.length; j += 8192) s += String.fromCharCode(...bytes.subarray(j, j + 8192));
    return {rate: recordedRate, pcm: btoa(s)};
  }

  return {start, stop: () => finished("hung up"), recording, get current() { return current; }};
})();
