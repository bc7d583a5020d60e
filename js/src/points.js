// Pure edits of the `points` trait: a list of {handle: [x, y], target: [x, y] | null}.
// Each returns a new list, so that Backbone sees a change.

export function normalizePoints(value) {
  if (!Array.isArray(value)) return [];
  return value
    .filter((p) => p && Array.isArray(p.handle))
    .map((p) => ({
      handle: [...p.handle],
      target: Array.isArray(p.target) ? [...p.target] : null,
    }));
}

// A click appends a new handle when the last pair is complete (or there is none), else it sets the
// last pair's target.
export function addClick(points, xy) {
  const last = points[points.length - 1];
  if (!last || last.target) return [...points, { handle: xy, target: null }];
  return [...points.slice(0, -1), { handle: last.handle, target: xy }];
}

export function movePoint(points, { index, which }, xy) {
  return points.map((p, i) => (i === index ? { ...p, [which]: xy } : p));
}

export const removePair = (points, index) => points.filter((_, i) => i !== index);

// Where the click that `addClick` made landed: {index, which}.
export function lastPlaced(points) {
  const index = points.length - 1;
  return { index, which: points[index].target ? "target" : "handle" };
}
