// One view of a DragWidget model: keeps the canvases in step with the traits, draws frames as they
// arrive, and turns pointer and key input into trait edits and messages for the kernel.
//
// The tracked handle paths of a drag are kept after its final frame and cleared when the person
// edits the points (or the kernel sends clear_path); a new drag starts new paths.

import { buildDom } from "./dom.js";
import { decodeImage, FpsMeter, toBytes } from "./frames.js";
import { fitScale, isPixelated } from "./geometry.js";
import { Input } from "./input.js";
import { MaskLayer } from "./mask.js";
import { drawOverlay } from "./overlay.js";
import { normalizePoints } from "./points.js";
import { frameStatus, hint } from "./status.js";

const BRUSH_MODES = new Set(["flexible", "fixed", "erase"]);

export class DragView {
  constructor(model, el) {
    this.model = model;
    this.el = el;
    this.ui = buildDom(el);
    this.overlayCtx = this.ui.overlay.getContext("2d");
    this.mask = new MaskLayer();
    this.fps = new FpsMeter();
    this.scale = 1;
    this.bitmap = null; // the image last drawn, to redraw after a resize
    this.liveHandles = []; // handles from the latest frame, until the points trait changes
    this.paths = []; // tracked handle paths, image px
    this.trackOpen = false; // a drag is streaming frames
    this.frameInfo = null;
    this.localError = "";
    this.queue = Promise.resolve(); // images are drawn in arrival order
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
    const h = this.get("height") || this.bitmap?.height || 256;
    return [w, h];
  }

  // The points as shown: handles follow the latest frame until the kernel rewrites the trait.
  shownPoints() {
    return normalizePoints(this.get("points")).map((p, i) =>
      this.liveHandles[i] ? { ...p, handle: [...this.liveHandles[i]] } : p,
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
    if (running) this.trackOpen = false; // the next frame starts new paths
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
    const [w, h] = this.size();
    this.scale = fitScale(w, h, this.el.clientWidth - 4);
    const dpr = window.devicePixelRatio || 1;
    const key = [w, h, this.scale, dpr].join(" ");
    if (key === this.layoutKey) return;
    this.layoutKey = key;
    const [cssW, cssH] = [w * this.scale, h * this.scale];
    const { image, overlay, stage } = this.ui;
    setCssSize(stage, cssW, cssH);
    setCssSize(image, cssW, cssH);
    setCssSize(overlay, cssW, cssH);
    image.classList.toggle("dw-pixelated", isPixelated(this.scale));
    if (image.width !== w || image.height !== h) {
      [image.width, image.height] = [w, h];
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
    const [w, h] = this.size();
    this.mask.load(toBytes(this.get("mask")), w, h);
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
      this.paths = handles.map((_, i) => (start[i] ? [start[i].handle] : []));
      this.fps.reset();
      this.trackOpen = true;
    }
    handles.forEach((xy, i) => (this.paths[i] ??= []).push(xy));
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
    const [w, h] = this.size();
    const mode = this.mode();
    const pointMode = mode === "point";
    const { draft, gesture, hover } = this.input;
    drawOverlay(this.overlayCtx, {
      cssW: w * this.scale,
      cssH: h * this.scale,
      scale: this.scale,
      smooth: !isPixelated(this.scale),
      mask: this.get("show_mask") && !this.mask.empty ? this.mask : null,
      points: draft ?? this.shownPoints(),
      paths: this.paths,
      pendingTo: pointMode && !gesture ? hover : null,
      brush:
        !pointMode && hover
          ? { at: hover, radius: (this.radius() + 0.5) * this.scale, erase: mode === "erase" }
          : null,
    });
  }
}

function setCssSize(node, w, h) {
  node.style.width = `${w}px`;
  node.style.height = `${h}px`;
}
