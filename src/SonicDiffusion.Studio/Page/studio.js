'use strict';
// SonicDiffusion Studio page: plain JS, no dependencies. Every API call goes through api(), which adds the bearer
// token when the studio asks for one; server-sent events are read with fetch (EventSource cannot send a header).

const $ = (id) => document.getElementById(id);
const state = {
  token: sessionStorage.getItem('sonic-token') || '',
  info: null,
  sound: null,        // { sampleId } or { blob, name }
  mode: 'generate',
  editImage: null,    // File
  sources: {},        // job id → object URL of the image an edit started from
  job: null,          // id of the followed job
  follow: null,       // AbortController of its event stream
  soundUrl: null,
};

// ---------------------------------------------------------------- API

async function api(path, options = {}) {
  const headers = new Headers(options.headers || {});
  if (state.token) headers.set('Authorization', 'Bearer ' + state.token);
  const res = await fetch(path, { ...options, headers });
  if (res.status === 401) {
    $('token-box').hidden = false;
    $('token-input').focus();
    throw new Error('this studio needs an access token');
  }
  return res;
}

async function apiJson(path, options) {
  const res = await api(path, options);
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || `request failed (HTTP ${res.status})`);
  return body;
}

function showError(message) {
  const el = $('error');
  el.textContent = message || '';
  el.hidden = !message;
}

// ---------------------------------------------------------------- start-up

async function init() {
  const hash = new URLSearchParams(location.hash.slice(1));
  if (hash.get('token')) {
    state.token = hash.get('token');
    sessionStorage.setItem('sonic-token', state.token);
    history.replaceState(null, '', location.pathname);
  }
  wireControls();
  try {
    state.info = await apiJson('/api/info');
  } catch (e) {
    $('model-line').textContent = e.message;
    return;
  }
  $('token-box').hidden = true;
  const m = state.info.model;
  $('model-line').textContent = `Model: ${m.name} · ${m.width}×${m.height} · ${m.uses_audio ? 'sound-conditioned' : 'text only'}`;
  if (m.note) { $('model-note').textContent = m.note; $('model-note').hidden = false; }
  setSlider('guidance', m.default_guidance);
  setSlider('beta', m.default_beta);
  $('steps').max = String(Math.min(state.info.max_steps, 150));
  setSlider('steps', m.default_steps);
  setSlider('feature', m.default_feature_injection);
  setSlider('attn', m.default_attn_injection);
  renderFeatureSites(m.decoder_resnets || [], m.default_feature_sites || []);
  const sched = $('scheduler');
  sched.replaceChildren(...state.info.schedulers.map((s) => new Option(s, s, s === m.default_scheduler, s === m.default_scheduler)));
  rollSeed();
  await Promise.all([loadSamples(), loadGallery()]);
}

function renderFeatureSites(all, defaults) {
  const box = $('feature-sites');
  box.replaceChildren(...all.map((name) => {
    const label = document.createElement('label');
    label.className = 'check';
    const input = document.createElement('input');
    input.type = 'checkbox';
    input.value = name;
    input.checked = defaults.includes(name);
    label.append(input, ' ' + name);
    return label;
  }));
  $('feature-sites-box').hidden = all.length === 0;
}

/** The checked feature sites, or '' when they are the model's official ones (the server's default). */
function featureSitesValue() {
  const m = state.info.model;
  const checked = [...$('feature-sites').querySelectorAll('input:checked')].map((i) => i.value);
  const defaults = m.default_feature_sites || [];
  if (checked.length === defaults.length && checked.every((n) => defaults.includes(n))) return '';
  if (checked.length === 0) throw new Error('Check at least one feature-injection site (or set feature injection to 0).');
  return checked.join(',');
}

async function loadSamples() {
  const samples = await apiJson('/api/samples');
  const select = $('sample-select');
  for (const s of samples) select.append(new Option(`${s.name} (${s.duration_seconds.toFixed(1)} s)`, s.id));
  if (samples.length === 0) select.options[0].textContent = '— no bundled samples —';
}

async function loadGallery() {
  const queue = await apiJson('/api/jobs');
  for (const job of queue.jobs.slice().reverse()) {
    if (job.state === 'done') await addToGallery(job.id, job.parameters, job.metadata || {}, job.kind);
  }
}

function setSlider(id, value) {
  $(id).value = String(value);
  $(id + '-out').textContent = $(id).value;
}

function rollSeed() {
  $('seed').value = String(Math.floor(Math.random() * 2 ** 32));
}

// ---------------------------------------------------------------- controls

function wireControls() {
  for (const id of ['guidance', 'beta', 'steps', 'feature', 'attn']) {
    $(id).addEventListener('input', () => { $(id + '-out').textContent = $(id).value; });
  }
  $('dice').addEventListener('click', rollSeed);
  $('go').addEventListener('click', () => start().catch((e) => { showError(e.message); idle(); }));
  $('cancel').addEventListener('click', cancel);
  $('sample-select').addEventListener('change', onSample);
  $('audio-file').addEventListener('change', onUpload);
  $('record-btn').addEventListener('click', toggleRecording);
  $('edit-image').addEventListener('change', onEditImage);
  $('token-form').addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token-input').value.trim();
    sessionStorage.setItem('sonic-token', state.token);
    init();
  });
  const tabs = [$('tab-generate'), $('tab-edit')];
  tabs.forEach((tab, i) => {
    tab.addEventListener('click', () => selectTab(i));
    tab.addEventListener('keydown', (e) => {
      const k = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (e.key === 'Home' || e.key === 'End') { e.preventDefault(); selectTab(e.key === 'Home' ? 0 : tabs.length - 1, true); }
      if (k) { e.preventDefault(); selectTab((i + k + tabs.length) % tabs.length, true); }
    });
  });
}

function selectTab(index, focus) {
  const tabs = [$('tab-generate'), $('tab-edit')];
  tabs.forEach((t, i) => {
    t.setAttribute('aria-selected', String(i === index));
    t.tabIndex = i === index ? 0 : -1;
  });
  if (focus) tabs[index].focus();
  state.mode = index === 1 ? 'edit' : 'generate';
  $('panel-generate').hidden = index === 1;
  $('panel-edit').hidden = index !== 1;
  $('go').textContent = state.mode === 'edit' ? 'Edit image' : 'Generate';
  $('scheduler-field').hidden = state.mode === 'edit';
  $('edit-source-figure').hidden = state.mode !== 'edit' || !state.editImage;
  if (state.mode === 'edit' && state.info && !state.info.model.can_edit) {
    showError('Editing is not available with this model.');
  } else {
    showError('');
  }
}

async function onSample() {
  const id = $('sample-select').value;
  if (!id) return;
  $('audio-file').value = '';
  state.sound = { sampleId: id };
  const res = await api(`/api/samples/${encodeURIComponent(id)}/audio`);
  if (res.ok) setPlayer(await res.blob());
  await analyse(`sample ${$('sample-select').selectedOptions[0].textContent}`);
}

async function onUpload() {
  const file = $('audio-file').files[0];
  if (!file) return;
  $('sample-select').value = '';
  state.sound = { blob: file, name: 'upload' };
  setPlayer(file);
  await analyse(`upload (${(file.size / 1024).toFixed(0)} KiB)`);
}

function onEditImage() {
  const file = $('edit-image').files[0];
  showError('');
  if (file && state.info && file.size > state.info.image_upload_limit) {
    showError(`This image is ${(file.size / 2 ** 20).toFixed(1)} MiB; the limit is ${(state.info.image_upload_limit / 2 ** 20).toFixed(0)} MiB.`);
    $('edit-image').value = '';
    state.editImage = null;
  } else {
    state.editImage = file || null;
  }
  const url = state.editImage ? URL.createObjectURL(state.editImage) : '';
  for (const id of ['edit-source-preview', 'edit-source-large']) {
    const img = $(id);
    img.src = url;
    img.hidden = !state.editImage;
  }
  $('edit-source-figure').hidden = !state.editImage;
}

function setPlayer(blob) {
  if (state.soundUrl) URL.revokeObjectURL(state.soundUrl);
  state.soundUrl = URL.createObjectURL(blob);
  const player = $('sound-player');
  player.src = state.soundUrl;
  player.hidden = false;
}

function soundForm() {
  const fd = new FormData();
  if (state.sound?.blob) fd.append('audio', state.sound.blob, state.sound.name);
  else if (state.sound?.sampleId) fd.append('sample', state.sound.sampleId);
  return fd;
}

async function analyse(label) {
  $('sound-status').textContent = `Analysing ${label}…`;
  showError('');
  try {
    const a = await apiJson('/api/audio/analysis', { method: 'POST', body: soundForm() });
    $('sound-status').textContent = `${label}: ${a.duration_seconds.toFixed(2)} s, ${a.sample_rate} Hz, ${a.channels} channel${a.channels > 1 ? 's' : ''}`;
    drawWaveform(a.peak_min, a.peak_max);
    const img = $('spectrogram');
    img.src = a.spectrogram;
    img.hidden = false;
    $('spectrogram-note').textContent = a.spectrogram_note;
  } catch (e) {
    $('sound-status').textContent = 'This sound cannot be used.';
    showError(e.message);
    state.sound = null;
  }
}

function drawWaveform(lo, hi) {
  const canvas = $('waveform');
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.max(1, Math.round(canvas.clientWidth * dpr));
  canvas.height = Math.max(1, Math.round(canvas.clientHeight * dpr));
  const g = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  g.fillStyle = '#111';
  g.fillRect(0, 0, w, h);
  g.fillStyle = '#7fd1ff';
  const n = lo.length;
  for (let x = 0; x < w; x++) {
    const i = Math.min(n - 1, Math.floor((x * n) / w));
    const top = ((1 - hi[i]) / 2) * h, bottom = ((1 - lo[i]) / 2) * h;
    g.fillRect(x, top, 1, Math.max(1, bottom - top));
  }
}

// ---------------------------------------------------------------- recording (the browser records webm/opus; we send WAV)

let recorder = null;
let recordTimer = null;

async function toggleRecording() {
  const btn = $('record-btn');
  if (recorder) { recorder.stop(); return; }
  showError('');
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ audio: true });
  } catch (e) {
    showError(`Microphone not available: ${e.message}`);
    return;
  }
  const chunks = [];
  recorder = new MediaRecorder(stream);
  recorder.ondataavailable = (e) => { if (e.data.size) chunks.push(e.data); };
  recorder.onstop = async () => {
    clearTimeout(recordTimer);
    stream.getTracks().forEach((t) => t.stop());
    recorder = null;
    btn.textContent = '● Record';
    btn.classList.remove('recording');
    btn.setAttribute('aria-pressed', 'false');
    try {
      const encoded = await new Blob(chunks).arrayBuffer();
      const ctx = new AudioContext();
      const decoded = await ctx.decodeAudioData(encoded);
      ctx.close();
      const wav = encodeWav(decoded);
      $('sample-select').value = '';
      $('audio-file').value = '';
      state.sound = { blob: wav, name: 'recording.wav' };
      setPlayer(wav);
      await analyse('recording');
    } catch (e) {
      showError(`The recording could not be decoded: ${e.message}`);
    }
  };
  recorder.start();
  btn.textContent = '■ Stop';
  btn.classList.add('recording');
  btn.setAttribute('aria-pressed', 'true');
  $('sound-status').textContent = 'Recording… (stops by itself after 20 s)';
  recordTimer = setTimeout(() => recorder && recorder.stop(), 20000);
}

/** AudioBuffer → mono 16-bit PCM WAV blob. */
function encodeWav(buffer) {
  const n = buffer.length, rate = buffer.sampleRate, channels = buffer.numberOfChannels;
  const mono = new Float32Array(n);
  for (let c = 0; c < channels; c++) {
    const data = buffer.getChannelData(c);
    for (let i = 0; i < n; i++) mono[i] += data[i] / channels;
  }
  const view = new DataView(new ArrayBuffer(44 + 2 * n));
  const text = (at, s) => { for (let i = 0; i < s.length; i++) view.setUint8(at + i, s.charCodeAt(i)); };
  text(0, 'RIFF'); view.setUint32(4, 36 + 2 * n, true); text(8, 'WAVE');
  text(12, 'fmt '); view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  text(36, 'data'); view.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) {
    const s = Math.max(-1, Math.min(1, mono[i]));
    view.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true);
  }
  return new Blob([view.buffer], { type: 'audio/wav' });
}

// ---------------------------------------------------------------- jobs

async function start() {
  showError('');
  const edit = state.mode === 'edit';
  const usesAudio = state.info?.model.uses_audio;
  const prompt = $('prompt').value.trim();
  if (edit) {
    if (!state.editImage) throw new Error('Choose an image to edit first.');
    if (!usesAudio && !prompt) throw new Error('This model has no audio adapters: write a prompt to edit with text.');
    if (usesAudio && !state.sound && !prompt) throw new Error('Choose a sound (or write a prompt for a text-only edit).');
  } else if (usesAudio && !state.sound) {
    throw new Error('Choose a sound first: a sample, a file or a recording.');
  }
  const fd = soundForm();
  if (edit) {
    fd.append('image', state.editImage, 'image');
    fd.append('feature_injection', $('feature').value);
    fd.append('attn_injection', $('attn').value);
    fd.append('fit', $('fit').value);
    const sites = featureSitesValue();
    if (sites) fd.append('feature_sites', sites);
  } else {
    fd.append('scheduler', $('scheduler').value);
  }
  fd.append('prompt', $('prompt').value);
  fd.append('guidance', $('guidance').value);
  fd.append('beta', $('beta').value);
  fd.append('steps', $('steps').value);
  fd.append('seed', $('seed').value);
  $('go').disabled = true;
  const source = edit ? URL.createObjectURL(state.editImage) : null;
  const job = await apiJson(edit ? '/api/edit' : '/api/generate', { method: 'POST', body: fd });
  if (source) state.sources[job.id] = source;
  await follow(job);
}

const PHASES = { invert: 'Inverting the image', edit: 'Editing', denoise: 'Step' };

/** Overall progress 0..1: an edit is its inversion (first half) then its edit (second half). */
function overall(data) {
  const f = data.total ? data.step / data.total : 0;
  if (data.phase === 'invert') return f / 2;
  if (data.phase === 'edit') return 0.5 + f / 2;
  return f;
}

async function follow(job) {
  state.job = job.id;
  state.follow = new AbortController();
  $('cancel').disabled = false;
  $('progress').value = 0;
  $('preview').hidden = true;
  $('preview-caption').textContent = '';
  $('progress-text').textContent = 'Queued.';
  const source = state.sources[job.id];
  $('edit-source-figure').hidden = !source;
  if (source) $('edit-source-large').src = source;
  const res = await api(`/api/jobs/${job.id}/events`, { signal: state.follow.signal });
  if (!res.ok || !res.body) throw new Error(`event stream failed (HTTP ${res.status})`);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let cut;
      while ((cut = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, cut);
        buffer = buffer.slice(cut + 2);
        let type = 'message', data = '';
        for (const line of block.split('\n')) {
          if (line.startsWith('event: ')) type = line.slice(7);
          else if (line.startsWith('data: ')) data += line.slice(6);
        }
        await onEvent(job, type, data ? JSON.parse(data) : {});
      }
    }
  } catch (e) {
    if (e.name !== 'AbortError') throw e;
  } finally {
    idle();
  }
}

async function onEvent(job, type, data) {
  const text = $('progress-text');
  switch (type) {
    case 'queued':
      text.textContent = data.position === 1 ? 'Waiting: next in line.' : `Waiting: position ${data.position} in line.`;
      break;
    case 'started':
      text.textContent = 'Started.';
      break;
    case 'step':
      $('progress').value = overall(data);
      if (data.detail === 'cached') text.textContent = 'Inverting the image: loaded from the cache.';
      else if (data.phase === 'invert' || data.phase === 'edit') text.textContent = `${PHASES[data.phase]}: step ${data.step} of ${data.total}`;
      else text.textContent = `Step ${data.step} of ${data.total}`;
      break;
    case 'preview': {
      const what = data.phase === 'invert' ? 'Inversion preview' : data.phase === 'edit' ? 'Edit preview' : 'Preview';
      $('preview').src = data.image;
      $('preview').alt = `${what} after step ${data.step} of ${data.total}`;
      $('preview').hidden = false;
      $('preview-caption').textContent = `${what}, step ${data.step}/${data.total} (approximate colours)`;
      break;
    }
    case 'done': {
      $('progress').value = 1;
      text.textContent = `Done in ${data.seconds} s.`;
      const url = await addToGallery(job.id, job.parameters, data.metadata || {}, job.kind);
      $('preview').src = url;
      $('preview').alt = job.kind === 'edit' ? 'The edited image' : 'The finished image';
      $('preview').hidden = false;
      $('preview-caption').textContent = job.kind === 'edit' ? `Edited image (${data.width}×${data.height})` : 'Finished image';
      break;
    }
    case 'error':
      text.textContent = 'Failed.';
      showError(data.message);
      break;
    case 'cancelled':
      text.textContent = 'Cancelled.';
      break;
  }
}

async function cancel() {
  if (!state.job) return;
  $('cancel').disabled = true;
  try {
    await apiJson(`/api/jobs/${state.job}`, { method: 'DELETE' });
  } catch (e) {
    showError(e.message);
  }
}

function idle() {
  $('go').disabled = false;
  $('cancel').disabled = true;
  state.follow = null;
}

async function addToGallery(id, params, meta, kind) {
  const res = await api(`/api/jobs/${id}/image`);
  if (!res.ok) return '';
  const url = URL.createObjectURL(await res.blob());
  const li = document.createElement('li');
  li.className = kind === 'edit' ? 'edit' : 'generate';
  const img = new Image();
  img.className = 'result';
  img.src = url;
  img.alt = `${kind === 'edit' ? 'Edited' : 'Generated'} image, seed ${params.seed}${params.prompt ? `, prompt “${params.prompt}”` : ''}`;
  const source = state.sources[id];
  if (kind === 'edit' && source) {
    const pair = document.createElement('div');
    pair.className = 'pair';
    const src = new Image();
    src.className = 'source';
    src.src = source;
    src.alt = 'Source image of this edit';
    pair.append(src, img);
    li.append(pair);
  } else {
    li.append(img);
  }
  const dl = document.createElement('dl');
  const rows = [
    ['mode', kind === 'edit' ? (meta.edit_mode === 'pnp-text' ? 'edit (text only)' : 'edit') : 'generate'],
    ['sound', params.audio], ['prompt', params.prompt || '—'], ['guidance', params.guidance], ['β', params.beta],
    ['steps', params.steps], ['seed', params.seed], ['sampler', params.scheduler],
  ];
  if (kind === 'edit') rows.push(['feature inj.', params.feature_injection], ['attention inj.', params.attn_injection], ['fit', params.fit]);
  if (kind === 'edit' && params.feature_sites) rows.push(['feature sites', params.feature_sites]);
  const size = document.createElement('dd');
  for (const [k, v] of rows.concat([['size', '']])) {
    const dt = document.createElement('dt');
    dt.textContent = k;
    const dd = k === 'size' ? size : document.createElement('dd');
    dd.textContent = String(v);
    dl.append(dt, dd);
  }
  img.addEventListener('load', () => { size.textContent = `${img.naturalWidth}×${img.naturalHeight}`; }, { once: true });
  li.append(dl);
  const links = document.createElement('div');
  links.className = 'links';
  const a = document.createElement('a');
  a.href = url;
  a.download = `sonic-${kind === 'edit' ? 'edit-' : ''}${id.slice(0, 8)}-seed${params.seed}.png`;
  a.textContent = 'Download PNG';
  const reuse = document.createElement('button');
  reuse.type = 'button';
  reuse.textContent = 'Use seed';
  reuse.addEventListener('click', () => { $('seed').value = String(params.seed); $('seed').focus(); });
  links.append(a, reuse);
  li.append(links);
  $('gallery').prepend(li);
  return url;
}

document.addEventListener('DOMContentLoaded', init);
