// Transport and timeline. The last render's per-source binaural previews are decoded into WebAudio
// buffers and mixed here, in the page: every source has a gain (1, or 0 when muted or another is
// soloed), so mute and solo act at once, while playing, with no new render. The previews share one
// gain and binaural rendering is linear, so the sources' previews sum to the mix preview.
"use strict";

const transport = { ctx: null, master: null, meters: [], buffers: [], gains: [], nodes: [], job: null, length: 0,
                    playing: false, loop: false, offset: 0, from: 0, startAt: 0, scrubbing: false };
const LEAD_SECONDS = 0.03;  // nodes start this far ahead so every source starts on the same sample
const PARALLEL_FETCHES = 4;

function formatTime(t) {
  return `${Math.floor(t / 60)}:${(t % 60).toFixed(1).padStart(4, "0")}`;
}
function playheadTime() { return transport.buffers.length ? position() : null; }

// -- audio ----------------------------------------------------------------------------------
function makeContext(rate) {
  if (transport.ctx) transport.ctx.close();
  const ctx = new AudioContext({ sampleRate: rate, latencyHint: "playback" });
  const master = ctx.createGain(), splitter = ctx.createChannelSplitter(2);
  master.connect(ctx.destination); master.connect(splitter);
  transport.meters = [0, 1].map((ear) => {
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 4096;
    splitter.connect(analyser, ear);
    return analyser;
  });
  Object.assign(transport, { ctx, master });
}
// Decode the result's source previews; the transport plays them once all are in.
async function loadPreviews() {
  stopPlayback();
  transport.offset = 0;
  transport.gains.forEach((g) => g.disconnect());
  Object.assign(transport, { buffers: [], gains: [], job: null });
  const r = state.result;
  updateTransport();
  if (!r) return;
  const rate = r.sample_rate || 48000;
  if (!transport.ctx || transport.ctx.sampleRate !== rate) makeContext(rate);
  const ctx = transport.ctx;
  $("#time").textContent = "loading previews…";
  try {
    const buffers = [];
    for (let k = 0; k < r.source_previews.length; k += PARALLEL_FETCHES) {  // the server serves 32 at once
      buffers.push(...await Promise.all(r.source_previews.slice(k, k + PARALLEL_FETCHES).map(async (name) => {
        const response = await fetch(`/api/result/${name}?v=${r.job}`);
        if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
        return ctx.decodeAudioData(await response.arrayBuffer());
      })));
    }
    if (state.result !== r) return;  // a newer render arrived meanwhile
    transport.buffers = buffers;
    transport.length = Math.max(...buffers.map((b) => b.duration));
    transport.gains = buffers.map(() => { const g = ctx.createGain(); g.connect(transport.master); return g; });
    transport.job = r.job;
    applyMix();
    document.body.dataset.previews = r.job;  // tests wait on it
  } catch (err) { showError(`cannot load the previews: ${err.message}`); }
  updateTransport();
}
// Which sources are heard: the soloed ones if any, else all not muted.
function audible(source) {
  const soloed = state.sources.some((s) => s.solo);
  return soloed ? !!source.solo : !source.mute;
}
function applyMix() {
  if (!transport.ctx) return;
  transport.gains.forEach((g, k) => {
    const source = state.sources.find((s) => s.id === state.stemIds[k]);  // removed since the render: silent
    g.gain.setTargetAtTime(source && audible(source) ? 1 : 0, transport.ctx.currentTime, 0.005);
  });
}
function position() {
  if (!transport.playing) return transport.offset;
  const t = transport.from + Math.max(0, transport.ctx.currentTime - transport.startAt);
  return transport.loop ? t % transport.length : Math.min(t, transport.length);
}
function startNodes(offset) {
  const ctx = transport.ctx, when = ctx.currentTime + LEAD_SECONDS, loop = transport.loop;
  transport.nodes = transport.buffers.map((buffer, k) => {
    const node = ctx.createBufferSource();
    Object.assign(node, { buffer, loop, loopStart: 0, loopEnd: buffer.duration });
    node.connect(transport.gains[k]);
    node.start(when, offset);
    return node;
  });
  Object.assign(transport, { from: offset, startAt: when });
}
function stopNodes() {
  for (const node of transport.nodes) { node.stop(); node.disconnect(); }
  transport.nodes = [];
}
async function startPlayback() {
  if (!transport.buffers.length || transport.playing) return;
  await transport.ctx.resume();  // a context made before any click starts suspended
  if (transport.offset >= transport.length - 0.01) transport.offset = 0;
  startNodes(transport.offset);
  transport.playing = true;
  $("#play").textContent = "Stop";
  document.body.dataset.playing = "yes";
  requestAnimationFrame(tick);
}
function stopPlayback() {
  if (!transport.playing) return;
  transport.offset = position();
  stopNodes();
  transport.playing = false;
  $("#play").textContent = "Play";
  document.body.dataset.playing = "no";
  showPosition();
}
function togglePlayback() { if (transport.playing) stopPlayback(); else startPlayback(); }
function seek(t) {
  if (!transport.buffers.length) return;
  t = clamp(t, 0, transport.length);
  if (transport.playing) { stopNodes(); startNodes(t); } else transport.offset = t;
  showPosition();
}
function setLoop() {
  const t = position();  // keep the place: the nodes' loop flag changes, the clock is re-anchored
  transport.loop = $("#loop").checked;
  if (!transport.playing) return;
  for (const node of transport.nodes) node.loop = transport.loop;
  Object.assign(transport, { from: t, startAt: Math.max(transport.startAt, transport.ctx.currentTime) });
}
function tick() {
  if (!transport.playing) return;
  if (!transport.loop && position() >= transport.length) {  // the end: stop and go back to the start
    stopPlayback();
    transport.offset = 0;
    showPosition();
    return;
  }
  showPosition();
  showMeters();
  requestAnimationFrame(tick);
}
function levelsDb() {
  const data = new Float32Array(transport.meters.length ? transport.meters[0].fftSize : 0);
  return transport.meters.map((analyser) => {
    analyser.getFloatTimeDomainData(data);
    let sum = 0;
    for (const v of data) sum += v * v;
    return Math.max(-120, 10 * Math.log10(sum / data.length + 1e-12));
  });
}
function showMeters() {
  levelsDb().forEach((db, ear) => {
    const meter = $(ear ? "#meter-right" : "#meter-left");
    meter.value = Math.max(-60, db); meter.dataset.db = db.toFixed(1);
  });
}
function showPosition() {
  const t = position();
  $("#time").textContent = `${formatTime(t)} / ${formatTime(transport.length)}`;
  if (!transport.scrubbing) $("#seek").value = t;
  drawEditor(t); drawDirections(t); placePlayhead(t);
}
function updateTransport() {
  const ready = transport.buffers.length > 0;
  for (const id of ["#play", "#seek"]) $(id).disabled = !ready;
  $("#seek").max = ready ? transport.length : 1;
  if (ready) showPosition(); else { $("#time").textContent = "render to listen"; placePlayhead(null); }
}
function setupTransport() {
  $("#play").addEventListener("click", togglePlayback);
  const bar = $("#seek");
  bar.addEventListener("input", () => seek(Number(bar.value)));
  bar.addEventListener("pointerdown", () => { transport.scrubbing = true; });
  bar.addEventListener("pointerup", () => { transport.scrubbing = false; });
  transport.loop = $("#loop").checked;  // a reload may restore the box
  $("#loop").addEventListener("change", setLoop);
  const ruler = $("#timeline .ruler");  // click or drag along the ruler to seek
  const scrub = (event) => {
    const box = ruler.getBoundingClientRect();
    seek((clamp(event.clientX - box.left, 0, box.width) / box.width) * duration());
  };
  ruler.addEventListener("pointerdown", (event) => { ruler.setPointerCapture(event.pointerId); transport.scrubbing = true; scrub(event); });
  ruler.addEventListener("pointermove", (event) => { if (transport.scrubbing) scrub(event); });
  ruler.addEventListener("pointerup", () => { transport.scrubbing = false; });
}

// -- timeline: one row per source; drag a clip to move the source (and its path) in time, drag a
// keyframe mark to retime it; M and S mute and solo it in the preview -------------------------
function sourceSeconds(s) {
  const room = Math.max(0, duration() - (Number(s.start) || 0));
  if (s.kind !== "file" || s.loop) return room;
  const seconds = state.uploadSeconds[s.file];
  return seconds == null ? room : Math.min(seconds, room);
}
function refreshTimeline() {
  const rows = $("#timeline .rows");
  const ids = state.sources.map((s) => s.id).join(",");
  if (rows.dataset.ids !== ids) buildTimeline(rows, ids);
  const total = duration();
  state.sources.forEach((s, i) => {
    const row = rows.children[i], clip = $(".clip", row), start = Number(s.start) || 0, seconds = sourceSeconds(s);
    $(".track-name", row).textContent = s.name;
    Object.assign(clip.style, { left: `${(100 * start) / total}%`, width: `${(100 * seconds) / total}%`,
                                background: COLOURS[i % COLOURS.length] });
    clip.classList.toggle("unknown-length", s.kind === "file" && !s.loop && state.uploadSeconds[s.file] == null);
    $(".clip-label", row).textContent = `${round(start, 2)} s · ${round(seconds, 2)} s`;
    Object.assign(clip.dataset, { start: round(start, 3), seconds: round(seconds, 3) });
    const lane = $(".lane", row);
    const marks = lane.querySelectorAll(".key");
    if (marks.length !== s.keys.length) { marks.forEach((m) => m.remove()); s.keys.forEach((_, j) => lane.append(keyMark(j))); }
    lane.querySelectorAll(".key").forEach((mark, j) => {
      mark.style.left = `${(100 * clamp(s.keys[j][0], 0, total)) / total}%`;
      mark.title = `keyframe ${j + 1}: ${round(s.keys[j][0], 2)} s`;
    });
    for (const [cls, key] of [[".mute", "mute"], [".solo", "solo"]]) $(cls, row).setAttribute("aria-pressed", String(!!s[key]));
    row.classList.toggle("silent", !audible(s));
  });
  const ticks = $("#timeline .ruler");
  if (ticks.dataset.total !== String(total)) {
    ticks.dataset.total = String(total);
    ticks.textContent = "";
    const every = Math.max(1, Math.round(total / 10));
    for (let t = 0; t <= total + 1e-9; t += every) {
      const label = document.createElement("span");
      label.textContent = `${t}s`; label.style.left = `${(100 * t) / total}%`;
      ticks.append(label);
    }
  }
  placePlayhead(playheadTime());
}
function keyMark(j) {
  const mark = document.createElement("span");
  mark.className = "key"; mark.dataset.key = j;
  return mark;
}
function buildTimeline(rows, ids) {
  rows.dataset.ids = ids;
  rows.textContent = "";
  state.sources.forEach((s) => {
    const row = $("#track-template").content.firstElementChild.cloneNode(true);
    const index = () => state.sources.findIndex((x) => x.id === s.id);
    const source = () => state.sources[index()];  // undo replaces the objects: look the source up by id
    for (const [cls, key] of [[".mute", "mute"], [".solo", "solo"]]) {
      $(cls, row).addEventListener("click", () => { const x = source(); x[key] = !x[key]; commit(); drawEditor(); });
    }
    $(".track-name", row).addEventListener("click", () => { state.selected = index(); markSelected(); drawEditor(); });
    const lane = $(".lane", row);
    lane.addEventListener("pointerdown", (event) => {
      const target = event.target.closest(".key, .clip");
      if (!target) return;
      if (isTyping(document.activeElement)) document.activeElement.blur();
      lane.setPointerCapture(event.pointerId);
      const x = source();
      state.selected = index(); markSelected();
      lane.drag = { x0: event.clientX, width: lane.getBoundingClientRect().width, start: Number(x.start) || 0,
                    keys: x.keys.map((k) => [...k]), key: target.classList.contains("key") ? Number(target.dataset.key) : null };
    });
    lane.addEventListener("pointermove", (event) => {
      const drag = lane.drag;
      if (!drag) return;
      const x = source(), total = duration(), dt = ((event.clientX - drag.x0) / drag.width) * total;
      if (drag.key !== null) retimeKey(x, drag, dt, event.shiftKey); else moveSource(x, drag, dt, event.shiftKey);
      refreshKeys(index()); drawEditor(); refreshTimeline();
    });
    const finish = () => { if (lane.drag) { lane.drag = null; commit(); } };
    lane.addEventListener("pointerup", finish);
    lane.addEventListener("pointercancel", finish);
    rows.append(row);
  });
}
// The source and its path together, as far as the path stays inside the scene (its times are
// scene times): the start moves on, the path stops at the scene's edge.
function moveSource(s, drag, dt, free) {
  const total = duration(), start = clamp(snapTime(drag.start + dt, free), 0, Math.max(0, total - 0.1));
  let shift = 0;
  if (drag.keys.length > 1) {
    const times = drag.keys.map((k) => k[0]);
    shift = clamp(start - drag.start, -Math.min(...times), total - Math.max(...times));
  }
  s.start = round(start, 3);
  s.keys = drag.keys.map((k) => [round(k[0] + shift, 3), ...k.slice(1)]);
}
function retimeKey(s, drag, dt, free) {
  const j = drag.key, keys = drag.keys, gap = 0.01;
  const low = j > 0 ? keys[j - 1][0] + gap : 0, high = j < keys.length - 1 ? keys[j + 1][0] - gap : duration();
  s.keys = keys.map((k) => [...k]);
  s.keys[j][0] = round(clamp(snapTime(keys[j][0] + dt, free), low, high), 3);
}
function placePlayhead(t) {
  const line = $("#timeline .playhead");
  line.hidden = t === null;
  if (t !== null) line.style.left = `${(100 * clamp(t, 0, duration())) / duration()}%`;
}
