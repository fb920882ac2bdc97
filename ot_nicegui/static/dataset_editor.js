// The dataset editor's mask canvas: the image with its mask over it, painted in the browser at the
// image's own size and posted as PNG when saved (grey level = brush alpha, white = train).
// The server drives it through `otDataset.*` calls queued in `window.otDatasetQueue`.
(() => {
  const UNDO_LIMIT = 20;
  const UNDO_BYTES = 256 * 1024 * 1024;  // snapshots of a large image are large: keep fewer
  const s = {
    item: null, tool: 'draw', brush: 1, alpha: 1, maskOnly: false,
    hasMask: false, hadMask: false, dirty: false, undo: [], stroke: null, loadId: 0,
  };
  let stage = null, imageCanvas = null, maskCanvas = null, cursor = null;

  function build() {
    const host = document.getElementById('ot-dataset-canvas');
    if (!host) return false;
    if (stage && host.contains(stage)) return true;
    host.innerHTML = '';
    stage = document.createElement('div');
    stage.className = 'ot-ds-stage';
    imageCanvas = document.createElement('canvas');
    imageCanvas.className = 'ot-ds-image';
    maskCanvas = document.createElement('canvas');
    maskCanvas.className = 'ot-ds-mask';
    maskCanvas.setAttribute('role', 'img');
    maskCanvas.setAttribute('aria-label', 'Mask: draw with the left button, erase with the right button');
    cursor = document.createElement('div');
    cursor.className = 'ot-ds-cursor';
    stage.append(imageCanvas, maskCanvas, cursor);
    host.append(stage);
    maskCanvas.addEventListener('pointerdown', down);
    maskCanvas.addEventListener('pointermove', move);
    maskCanvas.addEventListener('pointerleave', () => { cursor.style.display = 'none'; });
    maskCanvas.addEventListener('pointerup', up);
    maskCanvas.addEventListener('pointercancel', up);
    maskCanvas.addEventListener('contextmenu', (e) => e.preventDefault());
    return true;
  }

  function showLayers() {
    if (!stage) return;
    stage.classList.toggle('ot-ds-has-mask', s.hasMask);
    stage.classList.toggle('ot-ds-mask-only', s.maskOnly);
  }

  // the image as large as the column and 65 % of the window allow, small images scaled up
  function fit() {
    if (!stage || !imageCanvas.width) return;
    const host = stage.parentElement;
    const scale = Math.min(host.clientWidth / imageCanvas.width, window.innerHeight * 0.65 / imageCanvas.height);
    stage.style.width = `${Math.floor(imageCanvas.width * scale)}px`;
    stage.style.height = `${Math.floor(imageCanvas.height * scale)}px`;
  }
  window.addEventListener('resize', fit);

  function loadImage(url) {
    return new Promise((resolve, reject) => {
      const img = new Image();
      img.onload = () => resolve(img);
      img.onerror = () => reject(new Error(url));
      img.src = url;
    });
  }

  async function show(item) {
    if (!build()) return;
    const id = ++s.loadId;
    s.item = item;
    s.undo = [];
    s.dirty = false;
    stage.dataset.state = 'loading';
    let img, mask = null;
    try {
      img = await loadImage(item.image);
      if (item.mask) mask = await loadImage(item.mask + '?t=' + Date.now());
    } catch (error) {
      if (id === s.loadId) stage.dataset.state = 'failed';
      return;
    }
    if (id !== s.loadId) return;  // another image was chosen meanwhile
    for (const canvas of [imageCanvas, maskCanvas]) {
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
    }
    imageCanvas.getContext('2d').drawImage(img, 0, 0);
    const ctx = maskCanvas.getContext('2d', {willReadFrequently: true});
    ctx.fillStyle = '#fff';  // no mask: everything trains
    ctx.fillRect(0, 0, maskCanvas.width, maskCanvas.height);
    if (mask) ctx.drawImage(mask, 0, 0, maskCanvas.width, maskCanvas.height);
    s.hasMask = s.hadMask = !!mask;
    showLayers();
    fit();
    stage.dataset.image = item.relative;
    stage.dataset.state = 'ready';
  }

  function grey(value) {
    const v = Math.round(Math.max(0, Math.min(1, value)) * 255);
    return [v, `rgb(${v},${v},${v})`];
  }

  function point(e) {
    const rect = maskCanvas.getBoundingClientRect();
    return [(e.clientX - rect.left) * maskCanvas.width / rect.width,
            (e.clientY - rect.top) * maskCanvas.height / rect.height];
  }

  function remember(ctx) {
    s.undo.push(ctx.getImageData(0, 0, maskCanvas.width, maskCanvas.height));
    const each = maskCanvas.width * maskCanvas.height * 4;
    while (s.undo.length > Math.max(2, Math.min(UNDO_LIMIT, Math.floor(UNDO_BYTES / each)))) s.undo.shift();
  }

  // the first edit of an image without a mask starts one: black when adding, white when erasing
  function startMask(ctx, erasing) {
    if (s.hasMask) return;
    ctx.fillStyle = erasing ? '#fff' : '#000';
    ctx.fillRect(0, 0, maskCanvas.width, maskCanvas.height);
    s.hasMask = true;
    showLayers();
  }

  function down(e) {
    if (!s.item || stage.dataset.state !== 'ready' || (e.button !== 0 && e.button !== 2)) return;
    e.preventDefault();
    const ctx = maskCanvas.getContext('2d', {willReadFrequently: true});
    const erasing = e.button === 2 || s.tool === 'erase';
    remember(ctx);
    startMask(ctx, erasing);
    const [x, y] = point(e);
    s.dirty = true;
    if (s.tool === 'fill' && e.button === 0) {
      fill(ctx, Math.floor(x), Math.floor(y), grey(s.alpha)[0]);
      return;
    }
    maskCanvas.setPointerCapture(e.pointerId);
    const r = radius();
    s.stroke = {ctx, last: [x, y]};
    ctx.strokeStyle = ctx.fillStyle = erasing ? '#000' : grey(s.alpha)[1];
    ctx.lineWidth = r * 2;
    ctx.lineCap = ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    ctx.fill();
  }

  function radius() {
    return Math.max(0.5, Math.max(maskCanvas.width, maskCanvas.height) * s.brush / 100);
  }

  // the brush's outline under the pointer, at the size it paints
  function showCursor(e) {
    const rect = maskCanvas.getBoundingClientRect();
    const size = 2 * radius() * rect.width / maskCanvas.width;
    Object.assign(cursor.style, {
      display: s.tool === 'fill' ? 'none' : 'block', width: `${size}px`, height: `${size}px`,
      left: `${e.clientX - rect.left - size / 2}px`, top: `${e.clientY - rect.top - size / 2}px`,
    });
  }

  function move(e) {
    showCursor(e);
    if (!s.stroke) return;
    const [x, y] = point(e);
    const {ctx, last} = s.stroke;
    ctx.beginPath();
    ctx.moveTo(last[0], last[1]);
    ctx.lineTo(x, y);
    ctx.stroke();
    s.stroke.last = [x, y];
  }

  function up() {
    s.stroke = null;
  }

  // flood fill of the 4-connected region of the clicked grey level, one span at a time
  function fill(ctx, x, y, value) {
    const w = maskCanvas.width, h = maskCanvas.height;
    if (x < 0 || y < 0 || x >= w || y >= h) return;
    const data = ctx.getImageData(0, 0, w, h);
    const px = data.data;
    const target = px[(y * w + x) * 4];
    if (target === value) return;
    const stack = [[x, y]];
    while (stack.length) {
      const [sx, sy] = stack.pop();
      let left = sx;
      while (left > 0 && px[(sy * w + left - 1) * 4] === target) left--;
      let right = sx;
      while (right < w - 1 && px[(sy * w + right + 1) * 4] === target) right++;
      for (let i = left; i <= right; i++) {
        const o = (sy * w + i) * 4;
        if (px[o] !== target) continue;
        px[o] = px[o + 1] = px[o + 2] = value;
        px[o + 3] = 255;
        if (sy > 0 && px[o - w * 4] === target) stack.push([i, sy - 1]);
        if (sy < h - 1 && px[o + w * 4] === target) stack.push([i, sy + 1]);
      }
    }
    ctx.putImageData(data, 0, 0);
  }

  function undo() {
    const snapshot = s.undo.pop();
    if (!snapshot) return;
    maskCanvas.getContext('2d', {willReadFrequently: true}).putImageData(snapshot, 0, 0);
    if (!s.undo.length) {
      s.dirty = false;
      s.hasMask = s.hadMask;
      showLayers();
    }
  }

  async function saveMask() {
    if (!s.item || !s.dirty) return;
    const item = s.item;
    const blob = await new Promise((resolve) => maskCanvas.toBlob(resolve, 'image/png'));
    let ok = false, message;
    try {
      const response = await fetch(item.save, {method: 'POST', body: blob, headers: {'Content-Type': 'image/png'}});
      const answer = await response.json().catch(() => ({}));
      ok = response.ok;
      message = answer.message || `The mask was not saved (the server answered ${response.status}).`;
    } catch (error) {
      message = `The mask could not be sent to the server (${error.message}); it was not saved.`;
    }
    if (ok && s.item === item) {
      s.dirty = false;
      s.hadMask = true;
    }
    emitEvent('ot_dataset_mask', {relative: item.relative, ok, message});
  }

  window.otDataset = {
    show,
    undo,
    saveMask,
    setTool: (tool) => { s.tool = tool; },
    setBrush: (percent) => { s.brush = percent; },
    setAlpha: (alpha) => { s.alpha = alpha; },
    setMaskOnly: (on) => { s.maskOnly = on; showLayers(); },
    isDirty: () => s.dirty,
    tool: () => s.tool,
    maskAt: (x, y) => maskCanvas.getContext('2d', {willReadFrequently: true}).getImageData(x, y, 1, 1).data[0],
    drain() {
      const queue = window.otDatasetQueue || [];
      while (queue.length) queue.shift()();
    },
  };
  window.otDataset.drain();
})();
