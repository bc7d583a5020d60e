// Mapping between css pixels (on the displayed canvas) and image pixels.
//
// Image coordinates put pixel (i, j)'s centre at (i, j): a click in the middle of the pixel in
// column 3 gives x = 3.0. Brush strokes use the same frame, rounded to the integer pixel index.

export const MAX_DISPLAY = 512; // css px, longest side
export const HIT_RADIUS = 10; // css px around a point that grabs it

// Scale (css px per image px) that fits the cell. Upscaling snaps to a whole factor so pixels stay
// square and crisp.
export function fitScale(imgW, imgH, availW, maxSize = MAX_DISPLAY) {
  const room = availW > 0 ? availW : maxSize;
  const scale = Math.min(room / imgW, maxSize / Math.max(imgW, imgH));
  return scale >= 2 ? Math.floor(scale) : scale;
}

export const isPixelated = (scale) => scale >= 2 && Number.isInteger(scale);

export function cssToImage([cx, cy], scale, imgW, imgH) {
  const x = clamp(cx / scale - 0.5, 0, imgW - 1);
  const y = clamp(cy / scale - 0.5, 0, imgH - 1);
  return [round2(x), round2(y)];
}

export const imageToCss = ([x, y], scale) => [(x + 0.5) * scale, (y + 0.5) * scale];

export const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));
const round2 = (v) => Math.round(v * 100) / 100;

export const dist = (a, b) => Math.hypot(a[0] - b[0], a[1] - b[1]);

// The point nearest to `css` within HIT_RADIUS, as {index, which: "handle" | "target"}, or null.
export function hitTest(points, css, scale) {
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
