// Everything drawn over the image: mask tint, tracked paths, arrows, points, the brush cursor.
// Works in css pixels (the context is scaled by devicePixelRatio by the caller).

import { imageToCss } from "./geometry.js";

export const HANDLE_COLOUR = "#ff3b30";
export const TARGET_COLOUR = "#1e6bff";
export const MASK_ALPHA = 0.35;
const POINT_RADIUS = 6;
const SHADOW = "rgba(0, 0, 0, 0.55)";

// scene: {cssW, cssH, scale, smooth, mask (MaskLayer | null), points, paths, pendingTo, brush}
// points and paths are in image pixels; pendingTo and brush.at in css pixels.
export function drawOverlay(ctx, scene) {
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

// A ring that reads on light and dark images: dark outside, white inside.
function drawBrush(ctx, { at, radius, erase }) {
  ctx.save();
  ctx.setLineDash(erase ? [4, 3] : []);
  for (const [colour, width] of [
    [SHADOW, 3],
    ["white", 1.5],
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
