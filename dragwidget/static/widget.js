// src/style.js
var style_default = `
.dw-root {
  --dw-fg: var(--jp-ui-font-color1, #1f2328);
  --dw-muted: var(--jp-ui-font-color2, #656d76);
  --dw-bg: var(--jp-layout-color1, #ffffff);
  --dw-bg-alt: var(--jp-layout-color2, #f2f3f5);
  --dw-border: var(--jp-border-color1, #c9ced6);
  --dw-accent: var(--jp-brand-color1, #1e6bff);
  --dw-error: var(--jp-error-color1, #d1242f);
  display: inline-flex;
  flex-direction: column;
  gap: 6px;
  max-width: 100%;
  padding: 2px;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: 12px;
  line-height: 1.4;
  color: var(--dw-fg);
  outline: none;
  user-select: none;
  -webkit-user-select: none;
}

.dw-toolbar {
  display: flex;
  flex-wrap: wrap;
  align-items: center;
  gap: 6px 14px;
}

.dw-modes {
  display: inline-flex;
  border: 1px solid var(--dw-border);
  border-radius: 6px;
  overflow: hidden;
  background: var(--dw-bg);
}

.dw-mode {
  appearance: none;
  display: inline-flex;
  align-items: center;
  gap: 6px;
  margin: 0;
  padding: 4px 10px;
  border: 0;
  border-left: 1px solid var(--dw-border);
  background: transparent;
  color: var(--dw-fg);
  font: inherit;
  cursor: pointer;
}
.dw-mode:first-child { border-left: 0; }
.dw-mode:hover { background: var(--dw-bg-alt); }
.dw-mode.dw-active {
  background: var(--dw-accent);
  color: white;
}
.dw-mode:focus-visible { outline: 2px solid var(--dw-accent); outline-offset: -2px; }

.dw-swatch {
  width: 9px;
  height: 9px;
  border-radius: 2px;
  box-shadow: 0 0 0 1px rgba(255, 255, 255, 0.7);
}
.dw-mode-point .dw-swatch { background: #ff3b30; border-radius: 50%; }
.dw-mode-flexible .dw-swatch { background: rgb(46, 204, 113); }
.dw-mode-fixed .dw-swatch {
  background: repeating-linear-gradient(135deg, #3a3f4a 0 2px, #c9ced6 2px 4px);
}
.dw-mode-erase .dw-swatch {
  border: 1.5px dashed currentColor;
  border-radius: 50%;
  box-shadow: none;
  box-sizing: border-box;
}

.dw-radius, .dw-show-mask {
  display: inline-flex;
  align-items: center;
  gap: 6px;
  color: var(--dw-fg);
  cursor: pointer;
}
.dw-radius.dw-disabled { opacity: 0.45; }
.dw-radius-input { width: 90px; margin: 0; accent-color: var(--dw-accent); }
.dw-radius-value { min-width: 3.2em; color: var(--dw-muted); font-variant-numeric: tabular-nums; }
.dw-show-mask input { margin: 0; accent-color: var(--dw-accent); }

.dw-help {
  display: inline-flex;
  align-items: center;
  justify-content: center;
  width: 16px;
  height: 16px;
  border: 1px solid var(--dw-border);
  border-radius: 50%;
  color: var(--dw-muted);
  font-size: 11px;
  cursor: help;
}

.dw-stage {
  position: relative;
  align-self: flex-start;
  border-radius: 4px;
  overflow: hidden;
  background: var(--dw-bg-alt);
  box-shadow: 0 0 0 1px var(--dw-border);
  transition: box-shadow 0.12s;
}
.dw-root:focus-within .dw-stage { box-shadow: 0 0 0 2px var(--dw-accent); }

.dw-stage canvas {
  position: absolute;
  left: 0;
  top: 0;
  display: block;
}
.dw-image.dw-pixelated { image-rendering: pixelated; }
.dw-overlay { touch-action: none; cursor: crosshair; }
.dw-root[data-mode="flexible"] .dw-overlay,
.dw-root[data-mode="fixed"] .dw-overlay,
.dw-root[data-mode="erase"] .dw-overlay { cursor: none; }
.dw-overlay.dw-grab { cursor: grab; }
.dw-overlay.dw-grabbing { cursor: grabbing; }

/* The status line takes the width the image and toolbar give it and wraps inside it: a long
   message must never widen the widget (which would push the control panel below it). */
.dw-status {
  width: 0;
  min-width: 100%;
  min-height: 1.4em;
  overflow-wrap: anywhere;
  color: var(--dw-muted);
  font-variant-numeric: tabular-nums;
}
.dw-status-dot {
  display: inline-block;
  width: 8px;
  height: 8px;
  margin-right: 7px;
  border-radius: 50%;
  vertical-align: 0;
  background: var(--dw-border);
}
.dw-status-frame:not(:empty) ~ .dw-status-kernel { margin-left: 12px; }
.dw-root.dw-running .dw-status-dot {
  background: rgb(46, 204, 113);
  animation: dw-pulse 1s infinite alternate;
}
@keyframes dw-pulse { to { opacity: 0.35; } }
.dw-status-frame { color: var(--dw-fg); }
.dw-status-frame:empty, .dw-status-kernel:empty, .dw-status-error:empty { display: none; }
.dw-status-error { display: block; color: var(--dw-error); font-weight: 600; user-select: text; }
`;

// src/dom.js
var MODES = [
  {
    mode: "point",
    label: "Points",
    key: "P",
    title: "Click a handle, then its target. Drag a point to move it; right-click or a long press removes its pair."
  },
  { mode: "flexible", label: "Flexible", key: "B", title: "Paint the area that may change" },
  { mode: "fixed", label: "Fixed", key: "F", title: "Paint the area that must stay as it is" },
  { mode: "erase", label: "Erase", key: "E", title: "Erase painted mask" }
];
var HELP = [
  "Keys (click the image first):",
  "Space / Enter  start or stop",
  "Ctrl+Z  undo    Ctrl+Shift+Z / Ctrl+Y  redo",
  "P points \xB7 B flexible \xB7 F fixed \xB7 E erase",
  "M show mask \xB7 [ ] brush radius",
  "Delete  remove points \xB7 Shift+Delete  clear mask",
  "Esc  give the keys back to the notebook"
].join("\n");
function buildDom(el) {
  const root = h("div", "dw-root", { tabindex: "0", "data-lm-suppress-shortcuts": "true" });
  const style = document.createElement("style");
  style.textContent = style_default;
  const modeButtons = MODES.map(({ mode, label, key, title }) => {
    const b = h("button", `dw-mode dw-mode-${mode}`, {
      type: "button",
      title: `${title} (${key})`
    });
    b.dataset.mode = mode;
    b.append(h("span", "dw-swatch"), label);
    return b;
  });
  const modes = h("div", "dw-modes", { role: "group", "aria-label": "Tool" });
  modes.append(...modeButtons);
  const radius = h("input", "dw-radius-input", {
    type: "range",
    min: "1",
    step: "1",
    "aria-label": "Brush radius"
  });
  const radiusValue = h("span", "dw-radius-value");
  const radiusLabel = h("label", "dw-radius", { title: "Brush radius in image pixels ([ and ])" });
  radiusLabel.append("Radius", radius, radiusValue);
  const showMask = h("input", "", { type: "checkbox" });
  const showMaskLabel = h("label", "dw-show-mask", { title: "Tint the painted mask (M)" });
  showMaskLabel.append(showMask, "Show mask");
  const help = h("span", "dw-help", { title: HELP, "aria-label": HELP });
  help.textContent = "?";
  const toolbar = h("div", "dw-toolbar");
  toolbar.append(modes, radiusLabel, showMaskLabel, help);
  const image = h("canvas", "dw-image");
  const overlay = h("canvas", "dw-overlay");
  const stage = h("div", "dw-stage");
  stage.append(image, overlay);
  const status = h("div", "dw-status", { "aria-live": "polite" });
  const statusDot = h("span", "dw-status-dot");
  const statusFrame = h("span", "dw-status-frame");
  const statusKernel = h("span", "dw-status-kernel");
  const statusError = h("span", "dw-status-error", { role: "alert" });
  status.append(statusDot, statusFrame, statusKernel, statusError);
  root.append(style, toolbar, stage, status);
  el.append(root);
  return {
    root,
    modeButtons,
    radius,
    radiusValue,
    radiusLabel,
    showMask,
    stage,
    image,
    overlay,
    statusDot,
    statusFrame,
    statusKernel,
    statusError
  };
}
function h(tag, className, attrs = {}) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

// src/frames.js
function toBytes(value) {
  if (!value) return null;
  if (value instanceof Uint8Array) return value;
  if (ArrayBuffer.isView(value))
    return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (Array.isArray(value)) return Uint8Array.from(value);
  return null;
}
function sniffType(bytes) {
  if (bytes[0] === 137 && bytes[1] === 80) return "image/png";
  if (bytes[0] === 255 && bytes[1] === 216) return "image/jpeg";
  return "";
}
function decodeImage(bytes, format) {
  const type = sniffType(bytes) || (format ? `image/${format}` : "");
  return createImageBitmap(new Blob([bytes], { type }));
}
var FpsMeter = class {
  constructor(window2 = 12) {
    this.window = window2;
    this.times = [];
  }
  reset() {
    this.times = [];
  }
  tick(now) {
    this.times.push(now);
    if (this.times.length > this.window) this.times.shift();
  }
  get fps() {
    const n = this.times.length;
    if (n < 2) return null;
    const span = this.times[n - 1] - this.times[0];
    return span > 0 ? (n - 1) * 1e3 / span : null;
  }
};

// src/geometry.js
var MAX_DISPLAY = 512;
var HIT_RADIUS = 10;
function fitScale(imgW, imgH, availW, maxSize = MAX_DISPLAY) {
  const room = availW > 0 ? availW : maxSize;
  const scale = Math.min(room / imgW, maxSize / Math.max(imgW, imgH));
  return scale >= 2 ? Math.floor(scale) : scale;
}
var isPixelated = (scale) => scale >= 2 && Number.isInteger(scale);
function cssToImage([cx, cy], scale, imgW, imgH) {
  const x = clamp(cx / scale - 0.5, 0, imgW - 1);
  const y = clamp(cy / scale - 0.5, 0, imgH - 1);
  return [round2(x), round2(y)];
}
var imageToCss = ([x, y], scale) => [(x + 0.5) * scale, (y + 0.5) * scale];
var clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
var round2 = (v) => Math.round(v * 100) / 100;
var dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);
function hitTest(points, css, scale) {
  let best = null;
  let bestD = HIT_RADIUS;
  points.forEach((p, index) => {
    for (const which of ["target", "handle"]) {
      if (!p[which]) continue;
      const d = dist(imageToCss(p[which], scale), css);
      if (d <= bestD) [best, bestD] = [{ index, which }, d];
    }
  });
  return best;
}

// src/keys.js
var MODE_KEYS = { p: "point", b: "flexible", f: "fixed", e: "erase" };
function keyAction(event, running) {
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (event.ctrlKey || event.metaKey) return shortcutWithModifier(key, event);
  if (event.altKey) return null;
  if (key === " " || key === "Enter") return { command: running ? "stop" : "start" };
  if (MODE_KEYS[key]) return { mode: MODE_KEYS[key] };
  if (key === "m") return { toggleMask: true };
  if (key === "[") return { radiusBy: -1 };
  if (key === "]") return { radiusBy: 1 };
  if (key === "Delete" || key === "Backspace") {
    return { command: event.shiftKey ? "reset_mask" : "reset_points" };
  }
  if (key === "Escape") return { blur: true };
  return null;
}
function shortcutWithModifier(key, event) {
  if (event.altKey) return null;
  if (key === "z") return { command: event.shiftKey ? "redo" : "undo" };
  if (key === "y" && !event.shiftKey) return { command: "redo" };
  return null;
}

// src/points.js
function normalizePoints(value) {
  if (!Array.isArray(value)) return [];
  return value.filter((p) => p && Array.isArray(p.handle)).map((p) => ({
    handle: [...p.handle],
    target: Array.isArray(p.target) ? [...p.target] : null
  }));
}
function addClick(points, xy) {
  const last = points[points.length - 1];
  if (!last || last.target) return [...points, { handle: xy, target: null }];
  return [...points.slice(0, -1), { handle: last.handle, target: xy }];
}
function movePoint(points, { index, which }, xy) {
  return points.map((p, i) => i === index ? { ...p, [which]: xy } : p);
}
var removePair = (points, index) => points.filter((_, i) => i !== index);
function lastPlaced(points) {
  const index = points.length - 1;
  return { index, which: points[index].target ? "target" : "handle" };
}

// src/input.js
var CLICK_SLOP = 3;
var TOUCH_SLOP = 10;
var LONG_PRESS_MS = 550;
var FORM_KEYS = /* @__PURE__ */ new Set([
  " ",
  "Enter",
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End"
]);
var Input = class {
  constructor(view, signal) {
    this.view = view;
    this.gesture = null;
    this.draft = null;
    this.hover = null;
    this.signal = signal;
    const { overlay, root } = view.ui;
    const opts = { signal };
    overlay.addEventListener("pointerdown", (e) => this.onPointerDown(e), opts);
    overlay.addEventListener("pointermove", (e) => this.onPointerMove(e), opts);
    overlay.addEventListener("pointerup", (e) => this.onPointerUp(e), opts);
    overlay.addEventListener("pointercancel", (e) => this.onPointerUp(e, true), opts);
    overlay.addEventListener("pointerleave", () => this.setHover(null), opts);
    overlay.addEventListener("contextmenu", (e) => e.preventDefault(), opts);
    root.addEventListener("keydown", (e) => this.onKeyDown(e), opts);
  }
  // ---- pointer ----
  cssPos(e) {
    const rect = this.view.ui.overlay.getBoundingClientRect();
    return [e.clientX - rect.left, e.clientY - rect.top];
  }
  toImage(css) {
    return cssToImage(css, this.view.scale, ...this.view.size());
  }
  hitTest(points, css) {
    return hitTest(points, css, this.view.scale);
  }
  onPointerDown(e) {
    this.view.ui.root.focus({ preventScroll: true });
    const css = this.cssPos(e);
    if (e.button === 2 || e.button === 0 && e.altKey) return this.removeAt(css, e);
    if (e.button !== 0 || this.gesture) return;
    e.preventDefault();
    this.view.ui.overlay.setPointerCapture(e.pointerId);
    this.gesture = this.view.mode() === "point" ? this.startPointGesture(css) : this.startStroke(css);
    this.gesture.pointerId = e.pointerId;
    this.gesture.slop = e.pointerType === "touch" ? TOUCH_SLOP : CLICK_SLOP;
    if (e.pointerType !== "mouse" && this.gesture.kind === "point" && !this.gesture.moved) {
      const g = this.gesture;
      g.timer = setTimeout(() => this.onLongPress(g), LONG_PRESS_MS);
    }
    this.updateCursor(css);
    this.view.redraw();
  }
  onLongPress(g) {
    if (this.signal.aborted || this.gesture !== g || g.moved) return;
    this.gesture = null;
    this.draft = null;
    const { overlay } = this.view.ui;
    if (overlay.hasPointerCapture(g.pointerId)) overlay.releasePointerCapture(g.pointerId);
    this.view.commitPoints(removePair(g.base, g.hit.index));
    this.view.redraw();
  }
  onPointerMove(e) {
    const g = this.gesture;
    if (g && e.pointerId !== g.pointerId) return;
    const events = g && e.getCoalescedEvents ? e.getCoalescedEvents() : [];
    for (const ev of events.length ? events : [e]) {
      const css = this.cssPos(ev);
      if (g?.kind === "point") this.movePointGesture(g, css);
      if (g?.kind === "stroke") this.extendStroke(g, css);
    }
    this.setHover(this.cssPos(e));
  }
  onPointerUp(e, cancelled = false) {
    const g = this.gesture;
    if (!g || e.pointerId !== g.pointerId) return;
    this.gesture = null;
    clearTimeout(g.timer);
    if (g.kind === "point" && g.moved && !cancelled) this.view.commitPoints(this.draft);
    if (g.kind === "stroke") this.sendStroke(g);
    this.draft = null;
    this.updateCursor(this.cssPos(e));
    this.view.redraw();
  }
  setHover(css) {
    this.hover = css;
    if (css && !this.gesture) this.updateCursor(css);
    this.view.redraw();
  }
  updateCursor(css) {
    const over = this.view.mode() === "point" && this.hitTest(this.view.shownPoints(), css);
    const { classList } = this.view.ui.overlay;
    classList.toggle("dw-grabbing", this.gesture?.kind === "point");
    classList.toggle("dw-grab", !this.gesture && Boolean(over));
  }
  // A press on a point grabs it; a press elsewhere places the next point, which follows the pointer
  // until release.
  startPointGesture(css) {
    const shown = this.view.shownPoints();
    const hit = this.hitTest(shown, css);
    if (hit) return { kind: "point", hit, start: css, moved: false, base: shown };
    this.draft = addClick(shown, this.toImage(css));
    return {
      kind: "point",
      hit: lastPlaced(this.draft),
      start: css,
      moved: true,
      base: this.draft
    };
  }
  movePointGesture(g, css) {
    if (!g.moved && dist(css, g.start) <= g.slop) return;
    g.moved = true;
    clearTimeout(g.timer);
    this.draft = movePoint(g.base, g.hit, this.toImage(css));
  }
  removeAt(css, e) {
    e.preventDefault();
    const shown = this.view.shownPoints();
    const hit = this.hitTest(shown, css);
    if (hit) this.view.commitPoints(removePair(shown, hit.index));
  }
  startStroke(css) {
    const p = this.toImage(css).map(Math.round);
    const g = { kind: "stroke", mode: this.view.mode(), radius: this.view.radius(), path: [p] };
    this.view.mask.paint(p, p, g.mode, g.radius);
    return g;
  }
  extendStroke(g, css) {
    const p = this.toImage(css).map(Math.round);
    const last = g.path[g.path.length - 1];
    if (p[0] === last[0] && p[1] === last[1]) return;
    this.view.mask.paint(last, p, g.mode, g.radius);
    g.path.push(p);
  }
  sendStroke(g) {
    const xy = Int16Array.from(g.path.flat());
    this.view.model.send({ type: "stroke", mode: g.mode, radius: g.radius }, void 0, [
      xy.buffer
    ]);
  }
  // ---- keyboard ----
  // Keys typed while the widget has focus stay in the widget, so that the notebook does not also
  // act on them (B would insert a cell, D D delete one). Tab and modifier shortcuts still pass.
  onKeyDown(e) {
    const view = this.view;
    const inControl = e.target !== view.ui.root && e.target.matches?.("input, button");
    const action = inControl && FORM_KEYS.has(e.key) ? null : keyAction(e, Boolean(view.get("running")));
    if (action) {
      e.preventDefault();
      e.stopPropagation();
      this.apply(action);
    } else if (!e.ctrlKey && !e.metaKey && !e.altKey && e.key !== "Tab") {
      e.stopPropagation();
    }
  }
  apply(action) {
    const view = this.view;
    if (action.command) view.model.send({ type: "command", name: action.command });
    if (action.mode) view.chooseMode(action.mode);
    if (action.toggleMask) view.setTrait("show_mask", !view.get("show_mask"));
    if (action.radiusBy) {
      const r = view.radius();
      const step = Math.max(1, Math.round(r / 8)) * action.radiusBy;
      view.setTrait("brush_radius", clamp(r + step, 1, Number(view.ui.radius.max)));
    }
    if (action.blur) view.ui.root.blur();
  }
};

// src/mask.js
var FLEXIBLE_RGB = [46, 204, 113];
var HATCH_PERIOD = 8;
var MaskLayer = class {
  constructor() {
    this.flexible = makeCanvas();
    this.fixed = makeCanvas();
    this.hatch = makeCanvas();
    this.hatchKey = "";
    this.version = 0;
    this.empty = true;
  }
  // Replace both layers by the kernel's mask (raw uint8, width*height, row-major).
  load(bytes, width, height) {
    this.version += 1;
    for (const c of [this.flexible, this.fixed]) [c.width, c.height] = [width, height];
    this.empty = !bytes || bytes.length !== width * height;
    if (this.empty) return;
    this.flexible.ctx.putImageData(layerImage(bytes, 1, FLEXIBLE_RGB, width, height), 0, 0);
    this.fixed.ctx.putImageData(layerImage(bytes, 2, [0, 0, 0], width, height), 0, 0);
  }
  // Paint one piece of a stroke right away, before the kernel answers with the new mask.
  // `from` and `to` are integer pixel indices; discs of `radius` around the pixel centres are
  // painted.
  paint(from, to, mode, radius) {
    this.version += 1;
    const own = { flexible: this.flexible, fixed: this.fixed }[mode];
    for (const layer of [this.flexible, this.fixed]) {
      const erase = layer !== own;
      segment(layer.ctx, from, to, radius, erase, `rgb(${FLEXIBLE_RGB})`);
    }
    if (own) this.empty = false;
  }
  // The fixed layer as a hatch of `width` x `height` device px (`dpr` per css px) for the overlay.
  hatched(width, height, dpr, smooth) {
    const key = `${this.version} ${width} ${height} ${dpr} ${smooth}`;
    if (key === this.hatchKey) return this.hatch;
    this.hatchKey = key;
    const c = this.hatch;
    [c.width, c.height] = [width, height];
    c.ctx.fillStyle = c.ctx.createPattern(stripes(Math.round(HATCH_PERIOD * dpr)), "repeat");
    c.ctx.fillRect(0, 0, width, height);
    c.ctx.globalCompositeOperation = "destination-in";
    c.ctx.imageSmoothingEnabled = smooth;
    c.ctx.drawImage(this.fixed, 0, 0, width, height);
    c.ctx.globalCompositeOperation = "source-over";
    return c;
  }
};
function makeCanvas() {
  const c = document.createElement("canvas");
  c.ctx = c.getContext("2d");
  return c;
}
function layerImage(bytes, value, rgb, width, height) {
  const img = new ImageData(width, height);
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] === value) img.data.set([rgb[0], rgb[1], rgb[2], 255], 4 * i);
  }
  return img;
}
function segment(ctx, from, to, radius, erase, colour) {
  ctx.save();
  ctx.globalCompositeOperation = erase ? "destination-out" : "source-over";
  ctx.strokeStyle = colour;
  ctx.lineWidth = 2 * radius + 1;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.beginPath();
  ctx.moveTo(from[0] + 0.5, from[1] + 0.5);
  ctx.lineTo(to[0] + 0.5, to[1] + 0.5);
  ctx.stroke();
  ctx.restore();
}
function stripes(period) {
  const tile = makeCanvas();
  [tile.width, tile.height] = [period, period];
  const ctx = tile.ctx;
  ctx.fillStyle = "rgba(255, 255, 255, 0.28)";
  ctx.fillRect(0, 0, period, period);
  ctx.strokeStyle = "rgba(20, 24, 32, 0.62)";
  ctx.lineWidth = period * 0.35;
  ctx.beginPath();
  for (const k of [-1, 0, 1]) {
    ctx.moveTo(k * period, period);
    ctx.lineTo(k * period + period, 0);
  }
  ctx.stroke();
  return tile;
}

// src/overlay.js
var HANDLE_COLOUR = "#ff3b30";
var TARGET_COLOUR = "#1e6bff";
var MASK_ALPHA = 0.35;
var POINT_RADIUS = 6;
var SHADOW = "rgba(0, 0, 0, 0.55)";
function drawOverlay(ctx, scene) {
  ctx.clearRect(0, 0, scene.cssW, scene.cssH);
  if (scene.mask) drawMask(ctx, scene);
  const toCss = (xy) => imageToCss(xy, scene.scale);
  scene.paths.forEach((path) => drawPath(ctx, path.map(toCss)));
  const last = scene.points.length - 1;
  scene.points.forEach((p, i) => {
    if (p.target) drawArrow(ctx, toCss(p.handle), toCss(p.target));
    else if (scene.pendingTo && i === last) drawPending(ctx, toCss(p.handle), scene.pendingTo);
  });
  scene.points.forEach((p) => {
    if (p.target) drawDot(ctx, toCss(p.target), TARGET_COLOUR);
    drawDot(ctx, toCss(p.handle), HANDLE_COLOUR);
  });
  if (scene.brush) drawBrush(ctx, scene.brush);
}
function drawMask(ctx, { mask, cssW, cssH, smooth }) {
  const { width, height } = ctx.canvas;
  ctx.save();
  ctx.imageSmoothingEnabled = smooth;
  ctx.globalAlpha = MASK_ALPHA;
  ctx.drawImage(mask.flexible, 0, 0, cssW, cssH);
  ctx.globalAlpha = 1;
  ctx.drawImage(mask.hatched(width, height, width / cssW, smooth), 0, 0, cssW, cssH);
  ctx.restore();
}
function drawPath(ctx, pts) {
  if (!pts.some((p) => Math.hypot(p[0] - pts[0][0], p[1] - pts[0][1]) > 1)) return;
  ctx.save();
  ctx.strokeStyle = "rgba(255, 59, 48, 0.9)";
  ctx.lineWidth = 2.5;
  ctx.lineCap = ctx.lineJoin = "round";
  ctx.setLineDash([0.5, 4.5]);
  withShadow(ctx);
  polyline(ctx, pts);
  ctx.stroke();
  ctx.restore();
}
function drawArrow(ctx, from, to) {
  const [dx, dy] = [to[0] - from[0], to[1] - from[1]];
  const len = Math.hypot(dx, dy);
  if (len < POINT_RADIUS * 2) return;
  const [ux, uy] = [dx / len, dy / len];
  const tip = [to[0] - ux * (POINT_RADIUS + 2), to[1] - uy * (POINT_RADIUS + 2)];
  const head = Math.min(10, len / 3);
  ctx.save();
  ctx.strokeStyle = ctx.fillStyle = "white";
  ctx.lineWidth = 2;
  ctx.lineCap = "round";
  withShadow(ctx);
  polyline(ctx, [from, [tip[0] - ux * head * 0.6, tip[1] - uy * head * 0.6]]);
  ctx.stroke();
  ctx.beginPath();
  ctx.moveTo(...tip);
  ctx.lineTo(tip[0] - ux * head - uy * head * 0.5, tip[1] - uy * head + ux * head * 0.5);
  ctx.lineTo(tip[0] - ux * head + uy * head * 0.5, tip[1] - uy * head - ux * head * 0.5);
  ctx.closePath();
  ctx.fill();
  ctx.restore();
}
function drawPending(ctx, from, to) {
  ctx.save();
  ctx.strokeStyle = "rgba(255, 255, 255, 0.85)";
  ctx.lineWidth = 1.5;
  ctx.setLineDash([4, 4]);
  withShadow(ctx);
  polyline(ctx, [from, to]);
  ctx.stroke();
  ctx.restore();
}
function drawDot(ctx, [x, y], colour) {
  ctx.save();
  withShadow(ctx);
  ctx.beginPath();
  ctx.arc(x, y, POINT_RADIUS, 0, 2 * Math.PI);
  ctx.fillStyle = colour;
  ctx.fill();
  ctx.shadowColor = "transparent";
  ctx.lineWidth = 2;
  ctx.strokeStyle = "white";
  ctx.stroke();
  ctx.restore();
}
function drawBrush(ctx, { at, radius, erase }) {
  ctx.save();
  ctx.setLineDash(erase ? [4, 3] : []);
  for (const [colour, width] of [
    [SHADOW, 3],
    ["white", 1.5]
  ]) {
    ctx.beginPath();
    ctx.arc(at[0], at[1], Math.max(radius, 2), 0, 2 * Math.PI);
    ctx.strokeStyle = colour;
    ctx.lineWidth = width;
    ctx.stroke();
  }
  ctx.restore();
}
function polyline(ctx, pts) {
  ctx.beginPath();
  ctx.moveTo(...pts[0]);
  for (const p of pts.slice(1)) ctx.lineTo(...p);
}
function withShadow(ctx) {
  ctx.shadowColor = SHADOW;
  ctx.shadowBlur = 3;
}

// src/status.js
var joinParts = (parts) => parts.map((p) => p.replaceAll(" ", "\xA0")).join(" \xB7 ");
function frameStatus({ step, distances }, fps) {
  const parts = [`step ${step}`];
  if (distances?.length) {
    const mean = distances.reduce((a, b) => a + b, 0) / distances.length;
    parts.push(
      `mean distance ${mean.toFixed(1)} px`,
      `max ${Math.max(...distances).toFixed(1)} px`
    );
  }
  if (fps) parts.push(`${fps.toFixed(1)} fps`);
  return joinParts(parts);
}
function hint(mode, points) {
  if (mode !== "point") {
    return joinParts(["Paint with the mouse, pen or finger", "[ ] change the radius"]);
  }
  const last = points[points.length - 1];
  if (last && !last.target) return "Now click where this handle should go";
  if (!points.length) return joinParts(["Click a handle point, then its target", "Space starts"]);
  return joinParts([
    "Click to add a pair",
    "drag a point to move it",
    "right-click or long-press removes",
    "Space starts"
  ]);
}

// src/view.js
var BRUSH_MODES = /* @__PURE__ */ new Set(["flexible", "fixed", "erase"]);
var DragView = class {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.ui = buildDom(el);
    this.overlayCtx = this.ui.overlay.getContext("2d");
    this.mask = new MaskLayer();
    this.fps = new FpsMeter();
    this.scale = 1;
    this.bitmap = null;
    this.liveHandles = [];
    this.paths = [];
    this.trackOpen = false;
    this.frameInfo = null;
    this.localError = "";
    this.queue = Promise.resolve();
    this.modelHandlers = [];
    this.abort = new AbortController();
    this.listen();
    this.syncAll();
    model.send({ type: "ready" });
  }
  destroy() {
    this.destroyed = true;
    this.abort.abort();
    this.modelHandlers.forEach(([name, fn]) => this.model.off(name, fn));
    this.resizeObserver?.disconnect();
    cancelAnimationFrame(this.rafId);
    this.bitmap?.close?.();
    this.ui.root.remove();
  }
  // ---- traits ----
  get(name) {
    return this.model.get(name);
  }
  setTrait(name, value) {
    this.model.set(name, value);
    this.model.save_changes();
  }
  mode() {
    return this.get("mode") || "point";
  }
  radius() {
    return Math.max(1, Math.round(this.get("brush_radius") || 1));
  }
  size() {
    const w = this.get("width") || this.bitmap?.width || 256;
    const h2 = this.get("height") || this.bitmap?.height || 256;
    return [w, h2];
  }
  // The points as shown: handles follow the latest frame until the kernel rewrites the trait.
  shownPoints() {
    return normalizePoints(this.get("points")).map(
      (p, i) => this.liveHandles[i] ? { ...p, handle: [...this.liveHandles[i]] } : p
    );
  }
  listen() {
    const on = (name, fn) => {
      this.model.on(name, fn);
      this.modelHandlers.push([name, fn]);
    };
    on("change:image", () => this.loadImage());
    on("change:width", () => this.resize());
    on("change:height", () => this.resize());
    on("change:mask", () => this.loadMask());
    on("change:points", () => this.onPointsChanged());
    on("change:mode", () => this.syncMode());
    on("change:brush_radius", () => this.syncRadius());
    on("change:show_mask", () => this.syncShowMask());
    on("change:running", () => this.syncRunning());
    on("change:status", () => this.renderStatus());
    on("change:error", () => this.renderStatus());
    on("msg:custom", (msg, buffers) => this.onMessage(msg, buffers));
    this.listenDom();
  }
  listenDom() {
    const { modeButtons, radius, showMask } = this.ui;
    const on = (node, type, fn) => node.addEventListener(type, fn, { signal: this.abort.signal });
    this.input = new Input(this, this.abort.signal);
    for (const b of modeButtons) {
      on(b, "click", () => {
        this.chooseMode(b.dataset.mode);
        this.refocus();
      });
    }
    on(radius, "input", () => this.setTrait("brush_radius", Number(radius.value)));
    on(radius, "change", () => this.refocus());
    on(showMask, "change", () => {
      this.setTrait("show_mask", showMask.checked);
      this.refocus();
    });
    this.resizeObserver = new ResizeObserver(() => this.layout());
    this.resizeObserver.observe(this.el);
  }
  // After a toolbar control is used, focus goes back to the widget so that Space starts the drag
  // (instead of pressing the button again).
  refocus() {
    this.ui.root.focus({ preventScroll: true });
  }
  syncAll() {
    this.layout();
    this.loadImage();
    this.loadMask();
    this.syncMode();
    this.syncShowMask();
    this.syncRunning();
  }
  syncMode() {
    const mode = this.mode();
    this.ui.root.dataset.mode = mode;
    this.ui.modeButtons.forEach((b) => {
      b.classList.toggle("dw-active", b.dataset.mode === mode);
      b.setAttribute("aria-pressed", String(b.dataset.mode === mode));
    });
    this.ui.radiusLabel.classList.toggle("dw-disabled", !BRUSH_MODES.has(mode));
    this.syncRadius();
  }
  syncRadius() {
    const { radius, radiusValue } = this.ui;
    const r = this.radius();
    radius.max = String(Math.max(16, Math.round(Math.max(...this.size()) / 4), r));
    radius.value = String(r);
    radiusValue.textContent = `${r} px`;
    this.renderStatus();
    this.redraw();
  }
  syncShowMask() {
    this.ui.showMask.checked = Boolean(this.get("show_mask"));
    this.redraw();
  }
  syncRunning() {
    const running = Boolean(this.get("running"));
    this.ui.root.classList.toggle("dw-running", running);
    this.ui.statusDot.title = running ? "running" : "idle";
    if (running) this.trackOpen = false;
  }
  onPointsChanged() {
    this.liveHandles = [];
    if (!this.input.gesture) this.input.draft = null;
    this.renderStatus();
    this.redraw();
  }
  // Picking a brush turns the mask tint on, so that what is painted stays visible.
  chooseMode(mode) {
    this.setTrait("mode", mode);
    if (BRUSH_MODES.has(mode) && !this.get("show_mask")) this.setTrait("show_mask", true);
  }
  // A person's edit of the points; it ends the display of the last drag's paths.
  commitPoints(points) {
    this.paths = [];
    this.trackOpen = false;
    this.liveHandles = [];
    this.setTrait("points", points);
  }
  // ---- layout and images ----
  // Sizes the canvases to the cell; does nothing when nothing changed (it runs on every frame).
  layout() {
    const [w, h2] = this.size();
    this.scale = fitScale(w, h2, this.el.clientWidth - 4);
    const dpr = window.devicePixelRatio || 1;
    const key = [w, h2, this.scale, dpr].join(" ");
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    const [cssW, cssH] = [w * this.scale, h2 * this.scale];
    const { image, overlay, stage } = this.ui;
    setCssSize(stage, cssW, cssH);
    setCssSize(image, cssW, cssH);
    setCssSize(overlay, cssW, cssH);
    image.classList.toggle("dw-pixelated", isPixelated(this.scale));
    if (image.width !== w || image.height !== h2) {
      [image.width, image.height] = [w, h2];
      this.drawBitmap();
    }
    [overlay.width, overlay.height] = [Math.round(cssW * dpr), Math.round(cssH * dpr)];
    this.overlayCtx.setTransform(overlay.width / cssW, 0, 0, overlay.height / cssH, 0, 0);
    this.paintOverlay();
  }
  resize() {
    this.layout();
    this.loadMask();
    this.syncRadius();
  }
  loadImage() {
    const bytes = toBytes(this.get("image"));
    if (bytes?.length) this.enqueue(async () => this.showBitmap(await decodeImage(bytes)));
  }
  loadMask() {
    const [w, h2] = this.size();
    this.mask.load(toBytes(this.get("mask")), w, h2);
    this.redraw();
  }
  enqueue(task) {
    this.queue = this.queue.then(task).catch((err) => {
      this.localError = `Could not show an image: ${err?.message ?? err}`;
      this.renderStatus();
    });
  }
  showBitmap(bitmap) {
    if (this.destroyed) return bitmap.close?.();
    if (this.bitmap !== bitmap) this.bitmap?.close?.();
    this.bitmap = bitmap;
    this.localError = "";
    this.layout();
    this.drawBitmap();
    this.renderStatus();
  }
  drawBitmap() {
    const { image } = this.ui;
    if (this.bitmap) image.getContext("2d").drawImage(this.bitmap, 0, 0, image.width, image.height);
  }
  // ---- frames from the kernel ----
  onMessage(msg, buffers) {
    if (msg?.type === "frame") this.enqueue(() => this.showFrame(msg, buffers?.[0]));
    else if (msg?.type === "clear_path") {
      this.paths = [];
      this.trackOpen = false;
      this.redraw();
    }
  }
  // The ack goes out even when decoding fails, or the kernel would wait for it forever.
  async showFrame(msg, buffer) {
    try {
      const bytes = toBytes(buffer);
      if (!bytes?.length) throw new Error("the frame had no image data");
      this.showBitmap(await decodeImage(bytes, msg.format));
      this.track(msg);
    } finally {
      if (!this.destroyed) this.model.send({ type: "ack", id: msg.id });
    }
  }
  track(msg) {
    const handles = Array.isArray(msg.handles) ? msg.handles : [];
    if (!this.trackOpen) {
      const start = this.shownPoints();
      this.paths = handles.map((_, i) => start[i] ? [start[i].handle] : []);
      this.fps.reset();
      this.trackOpen = true;
    }
    handles.forEach((xy, i) => {
      var _a;
      return ((_a = this.paths)[i] ?? (_a[i] = [])).push(xy);
    });
    this.liveHandles = handles;
    this.fps.tick(performance.now());
    this.frameInfo = { step: msg.step ?? 0, distances: msg.distances ?? [] };
    if (msg.final) this.trackOpen = false;
    this.renderStatus();
    this.redraw();
  }
  // While frames of a drag are shown, their own numbers (with max distance and fps) replace the
  // kernel's per-step line ("step 12 · ..."); other kernel news is shown beside them.
  renderStatus() {
    const { statusFrame, statusKernel, statusError } = this.ui;
    const streaming = this.frameInfo?.step > 0;
    statusFrame.textContent = streaming ? frameStatus(this.frameInfo, this.fps.fps) : "";
    let kernel = this.get("status") || "";
    if (streaming && kernel.startsWith("step ")) kernel = "";
    else if (!streaming && !kernel) kernel = hint(this.mode(), this.shownPoints());
    statusKernel.textContent = kernel;
    statusError.textContent = this.get("error") || this.localError;
  }
  // ---- overlay ----
  redraw() {
    if (this.rafId) return;
    this.rafId = requestAnimationFrame(() => {
      this.rafId = 0;
      this.paintOverlay();
    });
  }
  paintOverlay() {
    const [w, h2] = this.size();
    const mode = this.mode();
    const pointMode = mode === "point";
    const { draft, gesture, hover } = this.input;
    drawOverlay(this.overlayCtx, {
      cssW: w * this.scale,
      cssH: h2 * this.scale,
      scale: this.scale,
      smooth: !isPixelated(this.scale),
      mask: this.get("show_mask") && !this.mask.empty ? this.mask : null,
      points: draft ?? this.shownPoints(),
      paths: this.paths,
      pendingTo: pointMode && !gesture ? hover : null,
      brush: !pointMode && hover ? { at: hover, radius: (this.radius() + 0.5) * this.scale, erase: mode === "erase" } : null
    });
  }
};
function setCssSize(node, w, h2) {
  node.style.width = `${w}px`;
  node.style.height = `${h2}px`;
}

// src/index.js
var src_default = {
  render({ model, el }) {
    const view = new DragView(model, el);
    return () => view.destroy();
  }
};
export {
  src_default as default
};
