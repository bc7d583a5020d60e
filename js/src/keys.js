// Keyboard shortcuts, as one pure function of the key event, so they can be read in one place.
//   Space / Enter        start or stop the drag
//   Ctrl/Cmd+Z           undo            Ctrl/Cmd+Shift+Z, Ctrl+Y   redo
//   P  B  F  E           point mode, flexible brush, fixed brush, erase
//   M                    show / hide the mask
//   [  ]                 brush radius smaller / larger
//   Delete / Backspace   remove all points (with Shift: clear the mask)
//   Escape               leave the widget (give the keys back to the notebook)

const MODE_KEYS = { p: "point", b: "flexible", f: "fixed", e: "erase" };

export function keyAction(event, running) {
  const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  if (event.ctrlKey || event.metaKey) return shortcutWithModifier(key, event);
  if (event.altKey) return null;
  if (key === " " || key === "Enter") return { command: running ? "stop" : "start" };
  if (MODE_KEYS[key]) return { mode: MODE_KEYS[key] };
  if (key === "m") return { toggleMask: true };
  if (key === "[") return { radiusBy: -1 };
  if (key === "]") return { radiusBy: +1 };
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
