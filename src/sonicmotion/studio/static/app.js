// SonicMotion studio page: the scene with undo/redo, path editor, source cards, renders, direction view.
// Playback, the timeline and mute/solo are in transport.js (loaded after this file; both start on
// DOMContentLoaded). Plain JavaScript, no libraries: the page works offline from the local server.
"use strict";

const COLOURS = ["#d9480f", "#1971c2", "#2f9e44", "#ae3ec9", "#f08c00", "#0c8599", "#e03131", "#5c940d"];
const WAYS = ["shortest", "cw", "ccw"];
const HISTORY_LIMIT = 200;  // undo steps kept
const MERGE_MS = 1000;  // edits with the same tag this close together are one undo step (scroll notches)
const NEW_DISTANCE = 5;  // metres given to every keyframe when a plane-wave path is first dragged nearer or farther
const DOUBLING_PX = 40;  // dragging a keyframe this far outwards (Alt held) doubles its distance; inwards halves it
const DISTANCE_RANGE = [0.2, 10000];  // metres: propagation's minimum distance and the Trajectory's maximum
const PASS_KEYS = 13;  // a straight-line (cartesian) path becomes this many keyframes with distance, one at its middle
const ROOM_DEFAULT = { dimensions: [8, 6, 3], rt60: 0.5 };
const state = { scene: { duration: 10, sample_rate: 48000, layout: "ambix", headroom_db: 1, room: null }, sources: [],
                selected: 0,
                uploads: [], uploadSeconds: {}, model: false, library: null, result: null, analysis: null, job: null,
                nextId: 1, stemIds: [], pendingIds: [], pendingScene: null, renderedScene: null };
const $ = (sel, root = document) => root.querySelector(sel);

// -- small maths (degrees; azimuth +90 = left; cw = azimuth decreasing) ------------------------
const mod = (a, n) => ((a % n) + n) % n;
const wrap = (az) => mod(az + 180, 360) - 180;
const round = (x, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const clamp = (x, low, high) => Math.max(low, Math.min(high, x));
function travel(from, to, way) {
  if (way === "ccw") return mod(to - from, 360);
  if (way === "cw") return -mod(from - to, 360);
  return mod(to - from + 180, 360) - 180;
}
// Unwrapped azimuth and elevation of keyframes [[t, az, el, way], ...] at time t (seconds).
function positionAt(keys, t) {
  let az = keys[0][1];
  if (t <= keys[0][0]) return [az, keys[0][2]];
  for (let i = 1; i < keys.length; i++) {
    const [t0, , el0] = keys[i - 1], [t1, az1, el1, way] = keys[i];
    const step = travel(wrap(az), az1, way || "shortest");
    if (t < t1) { const f = (t - t0) / (t1 - t0); return [az + f * step, el0 + f * (el1 - el0)]; }
    az += step;
  }
  return [az, keys[keys.length - 1][2]];
}

// -- snapping: angles to the chosen step (degrees), times to 0.1 s; `free` (Shift held) turns it off
function angleStep() { return Number($("#snap-angle").value) || 0; }
function snapAngle(degrees, free = false) {
  const step = angleStep();
  return free || !step ? round(degrees, 1) : Math.round(degrees / step) * step;
}
function snapTime(seconds, free = false) {
  return free || !$("#snap-time").checked ? round(seconds, 2) : round(seconds, 1);
}

// -- server ---------------------------------------------------------------------------------
async function api(method, url, body, headers = {}) {
  const init = { method, headers };
  if (body !== undefined) init.body = body;
  const response = await fetch(url, init);
  let data = null;
  try { data = await response.json(); } catch (err) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `${method} ${url}: HTTP ${response.status}`);
  return data;
}
function showError(message) { $("#error").textContent = message || ""; }

// -- undo/redo: snapshots of the whole scene (sources, paths, fields, mute/solo) -------------------
// An edit changes `state` and then calls commit(); undo/redo swap snapshots. The browser's own text
// undo is left to a text field only while it holds typing not yet committed (see onKey).
const history = { past: [], future: [], current: null, tag: null, at: 0 };
function snapshot() { return JSON.stringify({ scene: state.scene, sources: state.sources }); }
function commit(tag = null) {
  const now = snapshot();
  if (now === history.current) return;
  const merge = tag !== null && tag === history.tag && Date.now() - history.at < MERGE_MS;
  if (!merge && history.current !== null) {
    history.past.push(history.current);
    if (history.past.length > HISTORY_LIMIT) history.past.shift();
  }
  Object.assign(history, { current: now, future: [], tag, at: Date.now() });
  sceneChanged();
}
function undo() {
  commit();  // typing not yet committed is the newest edit: undo takes it back first
  if (!history.past.length) return;
  history.future.push(history.current);
  restore(history.past.pop());
}
function redo() {
  commit();
  if (!history.future.length) return;
  history.past.push(history.current);
  restore(history.future.pop());
}
function restore(snap) {
  const saved = JSON.parse(snap);
  Object.assign(history, { current: snap, tag: null });
  state.scene = saved.scene; state.sources = saved.sources;
  state.selected = clamp(state.selected, 0, Math.max(0, state.sources.length - 1));
  showScene(); renderSources(); drawEditor();
  sceneChanged();
}
function sceneChanged() {
  $("#undo").disabled = !history.past.length; $("#redo").disabled = !history.future.length;
  document.body.dataset.history = `${history.past.length}/${history.future.length}`;  // tests wait on it
  refreshTimeline(); applyMix(); showStale();
}
function isTyping(el) {
  return !!el && (el.tagName === "TEXTAREA" || el.isContentEditable ||
                  (el.tagName === "INPUT" && !["checkbox", "radio", "range", "button", "file"].includes(el.type)));
}
function onKey(event) {
  const el = document.activeElement, key = event.key.toLowerCase(), command = event.ctrlKey || event.metaKey;
  if (command && (key === "z" || key === "y") && !event.altKey) {
    if (isTyping(el) && el.value !== el.dataset.committed) return;  // the field's own text undo
    event.preventDefault();
    if (key === "y" || event.shiftKey) redo(); else undo();
  } else if (key === " " && !command && !isTyping(el)) {
    if (event.repeat) { event.preventDefault(); return; }  // a held space bar toggles once
    event.preventDefault();  // not a page scroll
    if (el && el !== document.body) el.blur();  // nor a click on the focused button when the key comes up
    togglePlayback();
  }
}
// A text field's value when it last matched the scene: typing beyond it is the field's to undo.
document.addEventListener("focusin", (event) => { if (isTyping(event.target)) event.target.dataset.committed = event.target.value; });

// -- scene <-> page -------------------------------------------------------------------------
function newSource(i) {
  const az = [45, -60, 150, -135, 90, -90, 0, 180][i % 8];
  const kind = state.library || state.model ? "prompt" : "file";  // prompts first when something can answer them
  return { id: state.nextId++, name: `source ${i + 1}`, kind, file: kind === "file" ? state.uploads[i] || "" : "",
           prompt: "", seed: "", steps: "", guidance: "", generator: "", loop: false, gain: 0, start: 0,
           keys: [[0, az, 0, "shortest"]], doppler: true, motion: "", mute: false, solo: false };
}
// Keyframes are [t, az, el, way] or, on a path with distance, [t, az, el, way, metres] (all or none).
const hasDistance = (keys) => keys[0][4] != null;
// A path in the scene file's form (Trajectory.to_dict) -> keyframes; `shift` seconds are added to
// the times (a path read from words counts from its source's start).
function pathToKeys(path, shift = 0) {
  const d = (value) => (value == null ? [] : [value]);
  let keys;
  if (path.type === "static") keys = [[0, path.azimuth, path.elevation || 0, "shortest", ...d(path.distance)]];
  else if (path.type === "linear") {
    keys = [[path.move_start, path.start_azimuth, path.start_elevation, "shortest", ...d(path.start_distance)],
            [path.move_end, path.end_azimuth, path.end_elevation, path.direction,
             ...d(path.end_distance ?? path.start_distance)]];
  } else if (path.type === "cartesian") keys = lineToKeys(path.keyframes);
  else keys = path.keyframes.map((k) => [k[0], k[1], k[2], typeof k[3] === "string" ? k[3] : "shortest",
                                         ...d(typeof k[3] === "string" ? k[4] : k[3])]);
  return shift ? keys.map((k) => [round(k[0] + shift, 3), ...k.slice(1)]) : keys;
}
// A cartesian path [[t, x, y, z], ...] (metres; x front, y left, z up) -> keyframes with distance,
// PASS_KEYS spread evenly in time over each straight piece, so the editor can show and edit it.
function lineToKeys(points) {
  if (points.length === 1) {
    const xyz = points[0].slice(1);
    return [[points[0][0], ...toAngles(xyz), "shortest", Math.hypot(...xyz)]];
  }
  const keys = [], pieces = points.length - 1, per = Math.max(1, Math.round((PASS_KEYS - 1) / pieces));
  for (let p = 0; p < pieces; p++) {
    const [t0, ...a] = points[p], [t1, ...b] = points[p + 1];
    for (let i = p ? 1 : 0; i <= per; i++) {
      const f = i / per, xyz = a.map((v, k) => v + f * (b[k] - v));
      let [az, el] = toAngles(xyz);
      if (Math.abs(el) > 89.99 && keys.length) az = keys[keys.length - 1][1];  // straight up: keep the way it came
      keys.push([round(t0 + f * (t1 - t0), 3), round(az, 2), round(el, 2), "shortest", round(Math.hypot(...xyz), 3)]);
    }
  }
  return keys;
}
function toAngles([x, y, z]) {
  return [(Math.atan2(y, x) * 180) / Math.PI, (Math.atan2(z, Math.hypot(x, y)) * 180) / Math.PI];
}
function loadScene(scene) {
  state.scene = { duration: scene.duration, sample_rate: scene.sample_rate || 48000, layout: scene.layout || "ambix",
                  headroom_db: scene.headroom_db ?? 1, room: scene.room || null };
  state.sources = scene.sources.map((s) => ({
    id: state.nextId++, name: s.name, kind: s.prompt !== undefined ? "prompt" : "file", file: s.file || "",
    prompt: s.prompt || "", seed: s.seed ?? "", steps: s.steps ?? "", guidance: s.guidance ?? "",
    generator: s.generator || "", loop: !!s.loop, gain: s.gain_db || 0, start: s.start || 0, keys: pathToKeys(s.path),
    doppler: s.doppler !== false, motion: s.motion || "", mute: false, solo: false }));
}
function showScene() {
  for (const [id, key] of [["#duration", "duration"], ["#rate", "sample_rate"], ["#layout", "layout"],
                           ["#headroom", "headroom_db"]]) $(id).value = state.scene[key];
  const room = state.scene.room;
  $("#room-on").checked = !!room;
  const shown = room || ROOM_DEFAULT;
  ["#room-x", "#room-y", "#room-z"].forEach((id, k) => { $(id).value = shown.dimensions[k]; $(id).disabled = !room; });
  // A room loaded with materials or an absorption has no single RT60 to show: the box stays
  // empty (typing one replaces them) rather than showing a default the room does not have.
  $("#room-rt60").value = shown.rt60 ?? (room ? "" : ROOM_DEFAULT.rt60); $("#room-rt60").disabled = !room;
  $("#room-rt60").placeholder = room && room.rt60 == null ? (room.materials ? "materials" : "absorption") : "";
}
function duration() { return Math.max(0.5, Number(state.scene.duration) || 10); }
function generatorOf(s) { return s.generator || (state.library && !state.model ? "library" : "model"); }
function sceneFromPage() {
  const sources = state.sources.map((s, i) => {
    const far = hasDistance(s.keys);
    const keys = s.keys.map((k) => [round(k[0], 3), round(wrap(k[1]), 2), round(k[2], 2), k[3] || "shortest",
                                     ...(far ? [round(k[4], 3)] : [])]);
    const out = { name: s.name || `source ${i + 1}`, path: keys.length === 1
      ? { type: "static", azimuth: keys[0][1], elevation: keys[0][2], ...(far ? { distance: keys[0][4] } : {}) }
      : { type: "keyframes", keyframes: keys },
      gain_db: Number(s.gain) || 0, start: Number(s.start) || 0 };
    if (far && s.doppler === false) out.doppler = false;  // the scene format's default is true
    if (s.motion) out.motion = s.motion;  // the words beside the path they gave (the path wins)
    if (s.kind === "prompt") {
      out.prompt = s.prompt;
      if (s.seed !== "" && s.seed !== null) out.seed = Number(s.seed);
      if (s.generator) out.generator = s.generator;
      if (generatorOf(s) === "model") {  // a library retrieves; only a model samples
        if (s.steps !== "" && s.steps !== null) out.steps = Number(s.steps);
        if (s.guidance !== "" && s.guidance !== null) out.guidance = Number(s.guidance);
      }
    } else {
      out.file = s.file;
      if (s.loop) out.loop = true;
    }
    return out;
  });
  const scene = { version: 1, duration: duration(), sample_rate: Number(state.scene.sample_rate) || 48000,
                  layout: state.scene.layout, headroom_db: Number(state.scene.headroom_db) || 0, sources };
  if (state.scene.room) scene.room = state.scene.room;  // as loaded (listener, order...), or {dimensions, rt60} as edited
  return scene;
}
function bindSceneFields() {
  for (const [id, key, parse] of [["#duration", "duration", Number], ["#rate", "sample_rate", Number],
                                  ["#layout", "layout", String], ["#headroom", "headroom_db", Number]]) {
    const el = $(id);
    el.addEventListener("input", () => { state.scene[key] = parse(el.value); drawEditor(); refreshTimeline(); });
    el.addEventListener("change", () => { state.scene[key] = parse(el.value); el.dataset.committed = el.value; commit(); });
  }
  // The room (a shoebox around the sources with distance): dimensions x front, y left, z up, and RT60.
  // Edits keep what the boxes do not show (listener, order, tail, materials of a loaded room);
  // an RT60 typed in replaces the room's materials or absorption, which it would contradict.
  const readRoom = (rt60Edited) => {
    if (!$("#room-on").checked) return null;
    const room = { ...(state.scene.room || ROOM_DEFAULT),
                   dimensions: ["#room-x", "#room-y", "#room-z"].map((id) => Number($(id).value)) };
    const rt60 = $("#room-rt60").value;
    if ((rt60Edited || !state.scene.room) && rt60 !== "") {
      delete room.materials; delete room.absorption; room.rt60 = Number(rt60);
    }
    return room;
  };
  $("#room-on").addEventListener("change", () => { state.scene.room = readRoom(false); showScene(); commit(); });
  for (const id of ["#room-x", "#room-y", "#room-z", "#room-rt60"]) {
    $(id).addEventListener("change", () => {
      state.scene.room = readRoom(id === "#room-rt60"); $(id).dataset.committed = $(id).value; commit();
    });
  }
}

// -- source cards ---------------------------------------------------------------------------
function renderSources() {
  const box = $("#sources");
  box.textContent = "";
  state.sources.forEach((s, i) => {
    const card = $("#source-template").content.firstElementChild.cloneNode(true);
    card.dataset.index = i;
    card.classList.toggle("selected", i === state.selected);
    $(".swatch", card).style.background = COLOURS[i % COLOURS.length];
    // Typing changes the scene at once (the canvas follows); leaving the field makes it one undo step.
    const bind = (sel, key, parse = (v) => v) => {
      const el = $(sel, card);
      if (el.type === "checkbox") {
        el.checked = !!s[key];
        el.addEventListener("change", () => { s[key] = el.checked; commit(); });
        return;
      }
      el.value = s[key] ?? "";
      el.addEventListener("input", () => { s[key] = parse(el.value); drawEditor(); refreshTimeline(); });
      el.addEventListener("change", () => { s[key] = parse(el.value); el.dataset.committed = el.value; commit(); });
    };
    bind(".name", "name");
    bind(".prompt", "prompt");
    bind(".seed", "seed");
    bind(".steps", "steps");
    bind(".guidance", "guidance");
    bind(".gain", "gain", Number);
    bind(".start", "start", Number);
    bind(".loop", "loop");
    bind(".doppler", "doppler");
    $(".doppler", card).disabled = !hasDistance(s.keys);
    const words = $(".describe", card);
    words.value = s.motion || "";
    const draw = () => describe(i, words);
    words.addEventListener("keydown", (event) => { if (event.key === "Enter") { event.preventDefault(); draw(); } });
    $(".describe-go", card).addEventListener("click", draw);
    const kind = $(".kind", card);
    kind.value = s.kind;
    if (!state.model && !state.library) {
      kind.querySelector('option[value="prompt"]').textContent = "prompt (needs --library or --model)";
    }
    const generator = $(".generator", card);  // only when both a library and a model can answer
    generator.hidden = !(state.model && state.library);
    generator.value = generatorOf(s);
    const showKind = () => {
      $(".file-row", card).hidden = s.kind !== "file";
      $(".prompt-row", card).hidden = s.kind !== "prompt";
      $(".model-settings", card).hidden = !(state.model && generatorOf(s) === "model");
    };
    generator.addEventListener("change", () => { s.generator = generator.value; showKind(); commit(); });
    kind.addEventListener("change", () => { s.kind = kind.value; showKind(); commit(); });
    showKind();
    const files = $(".file", card);
    files.append(new Option("(choose or upload a file)", ""));
    for (const name of state.uploads) files.append(new Option(name.replace(/^uploads\//, ""), name));
    files.value = s.file;
    files.addEventListener("change", () => { s.file = files.value; commit(); });
    $(".upload-input", card).addEventListener("change", (event) => upload(event.target.files[0], s));
    $(".remove", card).addEventListener("click", (event) => {
      event.stopPropagation();
      state.sources.splice(i, 1);
      state.selected = clamp(state.selected, 0, Math.max(0, state.sources.length - 1));
      renderSources(); drawEditor(); commit();
    });
    card.addEventListener("mousedown", () => {
      if (state.selected !== i) { state.selected = i; markSelected(); drawEditor(); }
    });
    renderKeys(s, $(".keys tbody", card));
    box.append(card);
  });
  showRetrieved();
}
function markSelected() {
  document.querySelectorAll(".source").forEach((card) =>
    card.classList.toggle("selected", Number(card.dataset.index) === state.selected));
}
function renderKeys(s, body) {
  body.textContent = "";
  s.keys.forEach((k, j) => {
    const row = document.createElement("tr");
    const cell = (value, change, attrs = {}) => {
      const input = document.createElement("input");
      Object.assign(input, { type: "number", value, ...attrs });
      input.addEventListener("change", () => { change(Number(input.value)); input.dataset.committed = input.value;
                                                drawEditor(); commit(); });
      const td = document.createElement("td"); td.append(input); row.append(td);
    };
    cell(round(k[0], 2), (v) => { k[0] = v; }, { step: 0.1, min: 0 });
    cell(round(wrap(k[1])), (v) => { k[1] = v; }, { step: 5 });
    cell(round(k[2]), (v) => { k[2] = clamp(v, -90, 90); }, { step: 5, min: -90, max: 90 });
    const way = document.createElement("select");
    for (const w of WAYS) way.append(new Option(w, w));
    way.value = k[3] || "shortest";
    way.disabled = j === 0;
    way.addEventListener("change", () => { k[3] = way.value; drawEditor(); commit(); });
    const td = document.createElement("td"); td.append(way); row.append(td);
    // distance: blank = a plane wave; a number on one keyframe gives every keyframe one (all or none)
    const far = document.createElement("input");
    Object.assign(far, { type: "number", value: k[4] == null ? "" : round(k[4], 2), step: 0.5, min: DISTANCE_RANGE[0],
                         placeholder: "—", title: "metres from the listener (blank: no distance)" });
    far.className = "distance";
    far.addEventListener("change", () => {
      const value = far.value === "" ? null : clamp(Number(far.value), ...DISTANCE_RANGE);
      if (value === null) s.keys.forEach((key) => key.splice(4));
      else { if (!hasDistance(s.keys)) s.keys.forEach((key) => { key[4] = value; }); k[4] = value; }
      far.dataset.committed = far.value;
      refreshDoppler(s); drawEditor(); commit();  // redraws the table
    });
    const tdFar = document.createElement("td"); tdFar.append(far); row.append(tdFar);
    const del = document.createElement("button");
    Object.assign(del, { type: "button", textContent: "×", title: "delete keyframe", disabled: s.keys.length < 2 });
    del.addEventListener("click", () => { s.keys.splice(j, 1); renderKeys(s, body); drawEditor(); commit(); });
    const td2 = document.createElement("td"); td2.append(del); row.append(td2);
    body.append(row);
  });
}
function refreshKeys(i) {
  const card = document.querySelector(`.source[data-index="${i}"]`);
  if (!card) return;
  renderKeys(state.sources[i], $(".keys tbody", card));
  $(".start", card).value = state.sources[i].start;
  $(".doppler", card).disabled = !hasDistance(state.sources[i].keys);
}
function refreshDoppler(s) { refreshKeys(state.sources.indexOf(s)); }

// Words -> a path (POST /api/motion): read in the source's own time, drawn as editable keyframes.
async function describe(i, input) {
  const s = state.sources[i], text = input.value.trim(), card = input.closest(".source");
  showError("");
  if (!text) return showError(`${s.name}: describe where the sound is, e.g. "passes close by on the left"`);
  const start = Number(s.start) || 0;
  let reading;
  try {
    reading = await api("POST", "/api/motion", JSON.stringify({ text, seconds: Math.max(0.1, duration() - start) }),
                        { "Content-Type": "application/json" });
  } catch (err) { return showError(`${s.name}: ${err.message}`); }
  const said = reading.understood.phrases.map((p) => `"${p.phrase}": ${p.sets}`).join("; ");
  $(".understood", card).textContent = said + (reading.understood.assumed.length
    ? ` · assumed: ${reading.understood.assumed.join("; ")}` : "");
  if (!reading.trajectory) return showError(`${s.name}: the words say nothing about where the sound is`);
  const current = state.sources.indexOf(s);  // the card list may have been rebuilt while waiting
  if (current < 0) return;
  s.keys = pathToKeys(reading.trajectory, start);
  s.motion = text;
  input.dataset.committed = input.value;  // Ctrl+Z now undoes the drawn path, not the typing
  state.selected = current; markSelected();
  refreshKeys(current); drawEditor(); commit();
  document.body.dataset.described = String((Number(document.body.dataset.described) || 0) + 1);  // tests wait on it
}

async function upload(file, source) {
  if (!file) return;
  showError("");
  $("#status").textContent = `uploading ${file.name}…`;
  try {
    const reply = await api("POST", `/api/upload?name=${encodeURIComponent(file.name)}`, file,
                            { "Content-Type": "application/octet-stream" });
    if (!state.uploads.includes(reply.name)) state.uploads.push(reply.name);
    state.uploads.sort();
    state.uploadSeconds[reply.name] = reply.seconds;
    source.file = reply.name;
    $("#status").textContent = `uploaded ${reply.name} (${reply.seconds} s, ${reply.channels} ch)`;
    renderSources(); commit();
  } catch (err) { showError(err.message); $("#status").textContent = ""; }
}

// -- the top-down editor --------------------------------------------------------------------
const editor = { canvas: null, ctx: null, R: 0, cx: 0, cy: 0, drag: null };
function toXY(az, el) {
  const r = editor.R * Math.cos((el * Math.PI) / 180), a = (az * Math.PI) / 180;
  return [editor.cx - r * Math.sin(a), editor.cy - r * Math.cos(a)];
}
function azimuthAt(x, y) { return (Math.atan2(editor.cx - x, editor.cy - y) * 180) / Math.PI; }
function pointer(event) {
  const box = editor.canvas.getBoundingClientRect();
  return [(event.clientX - box.left) * (editor.canvas.width / box.width),
          (event.clientY - box.top) * (editor.canvas.height / box.height)];
}
function keyAt(x, y) {
  const s = state.sources[state.selected];
  if (!s) return -1;
  for (let j = s.keys.length - 1; j >= 0; j--) {
    const [kx, ky] = toXY(s.keys[j][1], s.keys[j][2]);
    if (Math.hypot(kx - x, ky - y) <= 9) return j;
  }
  return -1;
}
function drawEditor(playhead = playheadTime()) {
  const { ctx, canvas, R, cx, cy } = editor;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = "#e3e6ec"; ctx.fillStyle = "#8a93a6"; ctx.font = "12px system-ui, sans-serif";
  for (const el of [0, 30, 60]) {
    ctx.beginPath(); ctx.arc(cx, cy, R * Math.cos((el * Math.PI) / 180), 0, 2 * Math.PI); ctx.stroke();
  }
  for (let az = -180; az < 180; az += 45) {
    const [x, y] = toXY(az, 0); ctx.beginPath(); ctx.moveTo(cx, cy); ctx.lineTo(x, y); ctx.stroke();
  }
  ctx.textAlign = "center";
  ctx.fillText("front", cx, cy - R - 8); ctx.fillText("back", cx, cy + R + 16);
  ctx.fillText("left", cx - R - 24, cy - 2); ctx.fillText("+90°", cx - R - 24, cy + 12);
  ctx.fillText("right", cx + R + 24, cy - 2); ctx.fillText("−90°", cx + R + 24, cy + 12);
  ctx.fillText("elevation 30°, 60°: inner rings", cx, canvas.height - 4);
  // the listener, nose to the front
  ctx.fillStyle = "#c9ced8"; ctx.beginPath(); ctx.arc(cx, cy, 11, 0, 2 * Math.PI); ctx.fill();
  ctx.beginPath(); ctx.moveTo(cx - 4, cy - 10); ctx.lineTo(cx, cy - 17); ctx.lineTo(cx + 4, cy - 10); ctx.fill();
  const total = duration();
  state.sources.forEach((s, i) => {
    const colour = COLOURS[i % COLOURS.length], selected = i === state.selected;
    ctx.strokeStyle = colour; ctx.fillStyle = colour; ctx.lineWidth = selected ? 2.5 : 1.2;
    ctx.globalAlpha = selected ? 1 : 0.55;
    ctx.beginPath();
    const t0 = s.keys[0][0], t1 = s.keys[s.keys.length - 1][0];
    const steps = Math.max(2, Math.round((t1 - t0) * 40));
    for (let k = 0; k <= steps; k++) {
      const [az, el] = positionAt(s.keys, t0 + ((t1 - t0) * k) / steps);
      const [x, y] = toXY(az, el);
      if (k === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    }
    ctx.stroke();
    s.keys.forEach((key, j) => {
      const [x, y] = toXY(key[1], key[2]);
      if (key[4] != null) {  // a ring whose size grows as the keyframe comes nearer (5 m: 10 px; 1 m: 15 px)
        ctx.beginPath(); ctx.arc(x, y, clamp(10 - 2.15 * Math.log2(key[4] / 5), 7, 22), 0, 2 * Math.PI); ctx.stroke();
      }
      ctx.beginPath(); ctx.arc(x, y, selected ? 6 : 4, 0, 2 * Math.PI);
      if (key[2] >= 0) ctx.fill(); else { ctx.fillStyle = "#fff"; ctx.fill(); ctx.stroke(); ctx.fillStyle = colour; }
      if (selected) {
        ctx.fillStyle = "#444"; ctx.textAlign = "left";
        ctx.fillText(`${round(key[0], 1)}s${key[2] ? ` ${key[2] > 0 ? "+" : ""}${round(key[2])}°` : ""}` +
                     `${key[4] != null ? ` ${round(key[4], key[4] < 10 ? 1 : 0)} m` : ""}`, x + 8, y - 6);
        ctx.fillStyle = colour;
      }
      if (j === s.keys.length - 1 && s.keys.length > 1) {  // an arrow head shows which way it ends
        const [px, py] = toXY(...positionAt(s.keys, Math.max(t0, t1 - 0.05 * (t1 - t0))));
        const a = Math.atan2(y - py, x - px);
        ctx.beginPath(); ctx.moveTo(x + 10 * Math.cos(a), y + 10 * Math.sin(a));
        ctx.lineTo(x + 10 * Math.cos(a + 2.5), y + 10 * Math.sin(a + 2.5));
        ctx.lineTo(x + 10 * Math.cos(a - 2.5), y + 10 * Math.sin(a - 2.5)); ctx.fill();
      }
    });
    if (playhead !== null && playhead >= s.start && playhead <= total) {
      const [x, y] = toXY(...positionAt(s.keys, playhead));
      ctx.globalAlpha = audible(s) ? 1 : 0.3; ctx.lineWidth = 2; ctx.strokeStyle = "#111";
      ctx.beginPath(); ctx.arc(x, y, 9, 0, 2 * Math.PI); ctx.fill(); ctx.stroke();
    }
  });
  ctx.globalAlpha = 1; ctx.lineWidth = 1;
}
function setupEditor() {
  const canvas = $("#editor");
  Object.assign(editor, { canvas, ctx: canvas.getContext("2d"), cx: canvas.width / 2, cy: canvas.height / 2,
                          R: canvas.width / 2 - 46 });
  canvas.addEventListener("pointerdown", (event) => {
    const s = state.sources[state.selected];
    if (!s) return;
    // Leaving a text field commits its typing, so Ctrl+Z after this drag undoes the drag, not the text.
    if (isTyping(document.activeElement)) document.activeElement.blur();
    canvas.setPointerCapture(event.pointerId);
    const [x, y] = pointer(event), j = keyAt(x, y);
    editor.drag = j >= 0 ? { key: j } : { stroke: [azimuthAt(x, y)] };
    if (j >= 0 && event.altKey) {  // Alt: nearer (inwards) or farther (outwards), the direction stays
      if (!hasDistance(s.keys)) s.keys.forEach((k) => { k[4] = NEW_DISTANCE; });
      editor.drag = { key: j, distance: true, r0: Math.hypot(x - editor.cx, y - editor.cy), d0: s.keys[j][4] };
    }
  });
  canvas.addEventListener("pointermove", (event) => {
    const drag = editor.drag, s = state.sources[state.selected];
    if (!drag || !s) return;
    const [x, y] = pointer(event), az = azimuthAt(x, y);
    drag.free = event.shiftKey;
    if (drag.distance) {
      const r = Math.hypot(x - editor.cx, y - editor.cy);
      const metres = clamp(drag.d0 * 2 ** ((r - drag.r0) / DOUBLING_PX), ...DISTANCE_RANGE);
      s.keys[drag.key][4] = round(metres, metres < 10 ? 2 : 1);
      drawEditor(); return;
    }
    if (drag.key !== undefined) { s.keys[drag.key][1] = wrap(snapAngle(az, drag.free)); drawEditor(); return; }
    const last = drag.stroke[drag.stroke.length - 1], unwrapped = last + travel(wrap(last), az, "shortest");
    if (Math.abs(unwrapped - last) < 0.5) return;
    drag.stroke.push(unwrapped);
    drawEditor();
    const ctx = editor.ctx;
    ctx.strokeStyle = "#555"; ctx.setLineDash([4, 4]); ctx.beginPath();
    drag.stroke.forEach((a, k) => { const [px, py] = toXY(a, 0); if (k) ctx.lineTo(px, py); else ctx.moveTo(px, py); });
    ctx.stroke(); ctx.setLineDash([]);
  });
  const finish = (event) => {
    const drag = editor.drag, s = state.sources[state.selected];
    editor.drag = null;
    if (!drag || !s) return;
    if (drag.stroke) {  // a drawn path keeps the source's distance (its first keyframe's), if it had one
      const metres = s.keys[0][4];
      s.keys = strokeToKeys(drag.stroke, Number(s.start) || 0, drag.free || event.shiftKey);
      if (metres != null) s.keys.forEach((k) => { k[4] = metres; });
    }
    refreshKeys(state.selected); drawEditor(); commit();
  };
  canvas.addEventListener("pointerup", finish);
  canvas.addEventListener("pointercancel", finish);
  canvas.addEventListener("wheel", (event) => {
    const [x, y] = pointer(event), j = keyAt(x, y), s = state.sources[state.selected];
    if (j < 0) return;
    event.preventDefault();
    const notch = event.shiftKey ? 1 : angleStep() || 1;  // one notch: the snapping step, 1° when free
    s.keys[j][2] = clamp(snapAngle(s.keys[j][2] + (event.deltaY < 0 ? notch : -notch), event.shiftKey), -90, 90);
    refreshKeys(state.selected); drawEditor(); commit(`elevation ${s.id} ${j}`);
  }, { passive: false });
  canvas.addEventListener("dblclick", (event) => {
    const [x, y] = pointer(event), j = keyAt(x, y), s = state.sources[state.selected];
    if (j < 0 || s.keys.length < 2) return;
    s.keys.splice(j, 1); refreshKeys(state.selected); drawEditor(); commit();
  });
}
// A drawn stroke (unwrapped azimuths) -> keyframes about every 30 degrees of travel, their
// times spread from the source's start to the scene's end in proportion to the travel; angles
// and times snapped unless `free`.
function strokeToKeys(stroke, start, free) {
  const elevation = clamp(Number($("#draw-elevation").value) || 0, -90, 90);
  const along = [0];
  for (let k = 1; k < stroke.length; k++) along.push(along[k - 1] + Math.abs(stroke[k] - stroke[k - 1]));
  const total = along[along.length - 1], end = duration();
  if (total < 3 || end - start < 0.1) return [[0, wrap(snapAngle(stroke[stroke.length - 1], free)), elevation, "shortest"]];
  const count = Math.max(2, Math.min(25, Math.round(total / 30) + 1));
  const keys = [];
  let k = 0, previous = null;
  for (let i = 0; i < count; i++) {
    const target = (total * i) / (count - 1);
    while (k < along.length - 2 && along[k + 1] < target) k++;
    const span = along[k + 1] - along[k], f = span > 0 ? Math.min(1, (target - along[k]) / span) : 0;
    const az = stroke[k] + f * (stroke[k + 1] - stroke[k]);
    const way = previous === null ? "shortest" : az > previous ? "ccw" : "cw";
    keys.push([snapTime(start + ((end - start) * i) / (count - 1), free), wrap(snapAngle(az, free)), elevation, way]);
    previous = az;
  }
  return keys;
}

// -- rendering ------------------------------------------------------------------------------
async function startRender() {
  showError("");
  const missing = state.sources.findIndex((s) => (s.kind === "file" ? !s.file : !s.prompt.trim()));
  if (!state.sources.length) return showError("add a source first");
  if (missing >= 0) {
    const s = state.sources[missing];
    return showError(`${s.name}: ${s.kind === "file" ? "choose or upload a file" : "write a prompt"}`);
  }
  try {
    const scene = sceneFromPage();
    const reply = await api("POST", "/api/render", JSON.stringify(scene), { "Content-Type": "application/json" });
    state.job = reply.job;
    state.pendingIds = state.sources.map((s) => s.id);
    state.pendingScene = JSON.stringify(scene);
    $("#render").disabled = true; $("#cancel").disabled = false;
    pollJob();
  } catch (err) { showError(err.message); }
}
async function pollJob() {
  let job;
  try { job = await api("GET", `/api/jobs/${state.job}`); } catch (err) { showError(err.message); return finishJob(); }
  $("#progress").value = job.progress;
  $("#status").textContent = `${job.message} (${job.seconds} s)`;
  if (job.state === "running") { setTimeout(pollJob, 250); return; }
  if (job.state === "failed") showError(job.error);
  if (job.state === "done") {
    state.stemIds = state.pendingIds; state.renderedScene = state.pendingScene;
    await loadResult();
  }
  finishJob();
  document.body.dataset.lastJob = job.state;  // after the result is shown (tests wait on it)
}
function finishJob() { $("#render").disabled = false; $("#cancel").disabled = true; }
async function cancelRender() {
  if (!state.job) return;
  try { await api("POST", `/api/jobs/${state.job}/cancel`); } catch (err) { showError(err.message); }
}
async function loadResult() {
  const info = await api("GET", "/api/state");
  state.result = info.result;
  state.analysis = state.result ? await api("GET", `/api/result/analysis.json?v=${state.result.job}`) : null;
  showResult();
  loadPreviews();
}
function showResult() {
  const r = state.result, links = $("#downloads");
  links.textContent = "";
  if (!r) { $("#peak").textContent = "no render yet"; drawDirections(); return; }
  $("#peak").textContent = `peak ${r.peak_dbfs} dBFS` +
    (r.gain_db < 0 ? ` (mix peaked at ${r.peak_before_dbfs} dBFS, lowered ${-r.gain_db} dB)` : "");
  const layout = r.layout === "ambix" ? "AmbiX" : "FuMa", rate = r.sample_rate ? `${r.sample_rate / 1000} kHz` : "";
  const downloads = [["scene_ambix48k.wav", "AmbiX scene (48 kHz, for DAWs)"],
                     ["scene.wav", `FOA scene (${layout}, ${rate})`],
                     ["mix_binaural.flac", "binaural mix (headphones, FLAC)"],
                     ...(r.stems || []).map((name, k) => [name, `stem: ${r.names[k]} (FOA ${layout})`]),
                     ["scene.yaml", "scene file"], ["scene.render.json", "render record"]];
  for (const [name, label] of downloads) {
    if (!(name in r.files)) continue;
    const a = document.createElement("a");
    Object.assign(a, { href: `/api/result/${name}?download=1&v=${r.job}`, textContent: label, download: name,
                       title: r.files[name] });
    a.id = `download-${name.replace(/\W/g, "-")}`;
    links.append(a);
  }
  showRetrieved(); showStale();
  drawDirections();
}
function showRetrieved() {
  const r = state.result;
  document.querySelectorAll(".source").forEach((card) => {
    const s = state.sources[Number(card.dataset.index)];
    const k = r ? state.stemIds.indexOf(s.id) : -1;
    const chosen = k >= 0 ? (r.retrieved || [])[k] : null;
    const box = $(".retrieved", card);
    box.hidden = !chosen;
    if (!chosen) return;
    const file = (m) => m.file.split(/[\/]|::/).pop();
    box.textContent = `retrieved: "${chosen.match.caption}" (${file(chosen.match)}, score ${chosen.match.score.toFixed(2)})` +
      (chosen.alternatives.length ? ` · next best: ${chosen.alternatives.map((m) => `"${m.caption}"`).join("; ")}` : "");
  });
}
// Previews are of the last render: say so when the scene has changed since.
function showStale() {
  const stale = !!state.result && state.renderedScene !== null && JSON.stringify(sceneFromPage()) !== state.renderedScene;
  $("#stale").hidden = !stale;
}

// -- estimated direction over time ------------------------------------------------------------
function heat(v) {  // 0..1 -> light to dark purple to orange
  const stops = [[251, 251, 253], [110, 50, 150], [245, 140, 40]];
  const x = clamp(v, 0, 1) * 2, i = Math.min(1, Math.floor(x)), f = x - i;
  return stops[i].map((c, k) => Math.round(c + f * (stops[i + 1][k] - c)));
}
function drawDirections(playhead = playheadTime()) {
  const canvas = $("#directions"), ctx = canvas.getContext("2d");
  const left = 46, bottom = 24, top = 8, right = 10, w = canvas.width - left - right, h = canvas.height - top - bottom;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const a = state.analysis, total = a ? a.paths.times[a.paths.times.length - 1] || duration() : duration();
  const X = (t) => left + (w * t) / total, Y = (az) => top + (h * (180 - az)) / 360;
  if (a) {
    const frames = a.energy.level_db, cells = a.energy.azimuths.length;
    const image = new ImageData(frames.length, cells);
    frames.forEach((column, f) => column.forEach((db, c) => {
      const [r, g, b] = heat((db + 40) / 40), at = ((cells - 1 - c) * frames.length + f) * 4;
      image.data.set([r, g, b, 255], at);
    }));
    const off = document.createElement("canvas");
    off.width = frames.length; off.height = cells; off.getContext("2d").putImageData(image, 0, 0);
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(off, left, top, X(a.energy.times[frames.length - 1] + 0.05) - left, h);
    a.paths.sources.forEach((p, i) => {
      ctx.strokeStyle = COLOURS[i % COLOURS.length]; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      ctx.beginPath();
      let previous = null;
      a.paths.times.forEach((t, k) => {
        if (t < p.start) { previous = null; return; }
        const az = p.azimuth[k];
        if (previous === null || Math.abs(az - previous) > 180) ctx.moveTo(X(t), Y(az)); else ctx.lineTo(X(t), Y(az));
        previous = az;
      });
      ctx.stroke(); ctx.setLineDash([]);
    });
    ctx.fillStyle = "#111";
    a.doa.times.forEach((t, k) => { if (a.doa.active[k]) ctx.fillRect(X(t) - 1, Y(a.doa.azimuth[k]) - 1, 2, 2); });
  }
  ctx.strokeStyle = "#9aa2b1"; ctx.strokeRect(left, top, w, h);
  ctx.fillStyle = "#555"; ctx.font = "11px system-ui, sans-serif"; ctx.textAlign = "right";
  for (const az of [180, 90, 0, -90, -180]) ctx.fillText(`${az}°`, left - 4, Y(az) + 4);
  ctx.textAlign = "center";
  for (let t = 0; t <= total + 1e-9; t += Math.max(1, Math.round(total / 10))) ctx.fillText(`${t}s`, X(t), canvas.height - 8);
  ctx.save(); ctx.translate(10, top + h / 2); ctx.rotate(-Math.PI / 2);
  ctx.fillText("azimuth (+90 = left)", 0, 0); ctx.restore();
  if (!a) { ctx.fillText("render to see where the sound comes from", left + w / 2, top + h / 2); }
  if (playhead !== null) {
    ctx.strokeStyle = "#111"; ctx.beginPath(); ctx.moveTo(X(playhead), top); ctx.lineTo(X(playhead), top + h); ctx.stroke();
  }
}

// -- start ----------------------------------------------------------------------------------
async function init() {
  setupEditor(); setupTransport(); bindSceneFields();
  const snap = $("#snap-angle");
  snap.value = localStorage.getItem("sonicmotion.snapAngle") || snap.value;
  snap.addEventListener("change", () => localStorage.setItem("sonicmotion.snapAngle", snap.value));
  document.addEventListener("keydown", onKey);
  let info;
  try { info = await api("GET", "/api/state"); } catch (err) { showError(err.message); return; }
  state.uploads = info.uploads; state.uploadSeconds = info.upload_seconds || {};
  state.model = info.model; state.library = info.library; state.result = info.result;
  const prompts = [info.library ? `prompts retrieved from ${info.library.path} (${info.library.clips} clips)` : "",
                   info.model ? "model loaded for prompts" : ""].filter(Boolean).join(" · ") ||
    "no library or model: file sources only (start with --library DIR)";
  $("#server-info").textContent = `workspace ${info.workspace} · ${prompts} · uploads up to ` +
    `${Math.round(info.max_upload_bytes / 1e6)} MB`;
  if (info.scene) loadScene(info.scene); else state.sources = [newSource(0), newSource(1)];
  if (state.result) {  // the saved scene is the one last sent to render: its sources are the result's stems
    state.stemIds = state.sources.map((s) => s.id);
    state.renderedScene = JSON.stringify(sceneFromPage());
  }
  $("#add-source").addEventListener("click", () => {
    state.sources.push(newSource(state.sources.length));
    state.selected = state.sources.length - 1; renderSources(); drawEditor(); commit();
  });
  $("#undo").addEventListener("click", undo);
  $("#redo").addEventListener("click", redo);
  $("#render").addEventListener("click", startRender);
  $("#cancel").addEventListener("click", cancelRender);
  history.current = snapshot();
  showScene(); renderSources(); drawEditor(); sceneChanged();
  if (state.result) {
    try { state.analysis = await api("GET", `/api/result/analysis.json?v=${state.result.job}`); } catch (err) { /* none yet */ }
  }
  showResult();
  loadPreviews();
  document.body.dataset.ready = "yes";
}
window.addEventListener("DOMContentLoaded", init);
