// Pointer and keyboard input of one view. Pointer events throughout, so mouse, pen and touch work.
//   point mode: a press places the next point (handle, then target) and can drag it before release;
//               a press on an existing point drags it; right-click or Alt+click removes its pair,
//               and so does a long press on it with a finger or pen (which have no right button).
//   brush modes: a stroke is painted locally at once and sent once, on release, as Int16 x, y
//                pairs.

import { clamp, cssToImage, dist, hitTest } from "./geometry.js";
import { keyAction } from "./keys.js";
import { addClick, lastPlaced, movePoint, removePair } from "./points.js";

const CLICK_SLOP = 3; // css px a press on a point may wander and still not move it
const TOUCH_SLOP = 10; // the same for a finger, which wanders more while it is held
const LONG_PRESS_MS = 550; // a touch or pen held this long on a point, unmoved, removes its pair
const FORM_KEYS = new Set([
  " ",
  "Enter",
  "ArrowLeft",
  "ArrowRight",
  "ArrowUp",
  "ArrowDown",
  "Home",
  "End",
]);

export class Input {
  constructor(view, signal) {
    this.view = view;
    // {kind: "point", hit, start, moved, base} or {kind: "stroke", mode, radius, path}
    this.gesture = null;
    this.draft = null; // points while a gesture edits them, before they go to the kernel
    this.hover = null; // css position of the pointer over the image
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
    if (e.button === 2 || (e.button === 0 && e.altKey)) return this.removeAt(css, e);
    if (e.button !== 0 || this.gesture) return;
    e.preventDefault();
    this.view.ui.overlay.setPointerCapture(e.pointerId);
    this.gesture =
      this.view.mode() === "point" ? this.startPointGesture(css) : this.startStroke(css);
    this.gesture.pointerId = e.pointerId;
    this.gesture.slop = e.pointerType === "touch" ? TOUCH_SLOP : CLICK_SLOP;
    if (e.pointerType !== "mouse" && this.gesture.kind === "point" && !this.gesture.moved) {
      const g = this.gesture; // a press on an existing point: a long press removes its pair
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
      base: this.draft,
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
    this.view.model.send({ type: "stroke", mode: g.mode, radius: g.radius }, undefined, [
      xy.buffer,
    ]);
  }

  // ---- keyboard ----

  // Keys typed while the widget has focus stay in the widget, so that the notebook does not also
  // act on them (B would insert a cell, D D delete one). Tab and modifier shortcuts still pass.
  onKeyDown(e) {
    const view = this.view;
    const inControl = e.target !== view.ui.root && e.target.matches?.("input, button");
    const action =
      inControl && FORM_KEYS.has(e.key) ? null : keyAction(e, Boolean(view.get("running")));
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
}
