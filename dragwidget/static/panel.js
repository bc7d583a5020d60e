// src/panel.js
var CSS = `
.dwp-root {
  --dwp-fg: var(--jp-ui-font-color1, #1f2328);
  --dwp-border: var(--jp-border-color1, #c9ced6);
  --dwp-bg: var(--jp-layout-color1, #ffffff);
  --dwp-bg-alt: var(--jp-layout-color2, #eef0f3);
  display: flex;
  flex-direction: column;
  gap: 4px;
  width: 24em;
  padding: 0 0 0 12px;
  box-sizing: border-box;
  font-family: var(--jp-ui-font-family, system-ui, -apple-system, "Segoe UI", sans-serif);
  font-size: 13px;
  color: var(--dwp-fg);
}
.dwp-row { display: flex; gap: 4px; align-items: center; }
.dwp-row > * { flex: 1 1 auto; min-width: 0; }
.dwp-column { display: flex; flex-direction: column; gap: 4px; }
.dwp-field { display: flex; align-items: center; gap: 8px; }
.dwp-label { flex: 0 0 7.5em; text-align: right; white-space: nowrap; overflow: hidden; }
.dwp-field input[type="text"], .dwp-field select, .dwp-field input[type="range"] {
  flex: 1 1 auto;
  min-width: 0;
}
.dwp-field input[type="text"], .dwp-field select {
  height: 26px;
  padding: 0 6px;
  border: 1px solid var(--dwp-border);
  border-radius: 2px;
  background: var(--dwp-bg);
  color: inherit;
  font: inherit;
  box-sizing: border-box;
}
.dwp-readout { flex: 0 0 4.5em; text-align: right; font-variant-numeric: tabular-nums; }
.dwp-field progress { flex: 1 1 auto; height: 14px; }
.dwp-button {
  height: 28px;
  padding: 0 10px;
  border: 0;
  border-radius: 2px;
  background: var(--dwp-bg-alt);
  color: inherit;
  font: inherit;
  cursor: pointer;
  white-space: nowrap;
}
.dwp-button:disabled { opacity: 0.5; cursor: default; }
.dwp-button.dwp-success { background: #4caf50; color: white; }
.dwp-button.dwp-danger { background: #f44336; color: white; }
.dwp-button.dwp-primary { background: #2196f3; color: white; }
.dwp-button.dwp-info { background: #00bcd4; color: white; }
.dwp-button.dwp-warning { background: #ff9800; color: white; }
.dwp-toggles { display: flex; gap: 2px; }
.dwp-toggles .dwp-button { flex: 0 0 5em; }
.dwp-toggles .dwp-button[aria-pressed="true"] {
  box-shadow: inset 0 2px 4px rgba(0, 0, 0, 0.25);
  background: var(--dwp-border);
}
.dwp-upload { display: flex; flex-direction: column; gap: 2px; }
.dwp-upload .dwp-button { align-self: flex-start; }
.dwp-note { color: #c62828; }
.dwp-image { max-width: 100%; align-self: flex-start; }
.dwp-sections summary { cursor: pointer; padding: 4px 0; font-weight: 600; }
.dwp-missing { opacity: 0.6; font-style: italic; }
`;
var panel_default = {
  render({ model, el }) {
    const view = new PanelView(model, el);
    return () => view.destroy();
  }
};
var PanelView = class {
  constructor(model, el) {
    this.model = model;
    this.root = document.createElement("div");
    this.root.className = "dwp-root";
    const style = document.createElement("style");
    style.textContent = CSS;
    el.append(style, this.root);
    this.style = style;
    this.shape = null;
    this.controls = /* @__PURE__ */ new Map();
    this.onChange = () => this.sync();
    this.onMessage = (msg) => {
      if (msg?.type === "control") this.controls.get(msg.id)?.update(msg.spec, true);
    };
    model.on("change:controls", this.onChange);
    model.on("change:images", this.onChange);
    model.on("msg:custom", this.onMessage);
    this.sync();
  }
  destroy() {
    this.model.off("change:controls", this.onChange);
    this.model.off("change:images", this.onChange);
    this.model.off("msg:custom", this.onMessage);
    this.controls.forEach((control) => control.destroy?.());
    this.root.remove();
    this.style.remove();
  }
  send(content, buffers) {
    this.model.send(content, void 0, buffers);
  }
  // Rebuild when the structure changed (it does not, in practice); else update in place.
  sync() {
    const tree = this.model.get("controls") || {};
    const shape = JSON.stringify(tree, (k, v) => k === "" || !isState(k) ? v : void 0);
    if (shape !== this.shape) {
      this.shape = shape;
      this.controls.forEach((control) => control.destroy?.());
      this.controls.clear();
      this.root.replaceChildren(this.build(tree));
    }
    this.update(tree);
  }
  update(node) {
    if (Array.isArray(node.children)) return node.children.forEach((c) => this.update(c));
    this.controls.get(node.id)?.update(node);
  }
  build(node) {
    if (node.kind === "row" || node.kind === "column") {
      const box = div(`dwp-${node.kind}`);
      box.append(...node.children.map((c) => this.build(c)));
      return box;
    }
    if (node.kind === "sections") {
      const box = div("dwp-column");
      node.children.forEach((child, i) => {
        const details = document.createElement("details");
        details.className = "dwp-sections";
        const summary = document.createElement("summary");
        summary.textContent = node.titles?.[i] ?? "";
        details.append(summary, this.build(child));
        box.append(details);
      });
      return box;
    }
    const send = (content, buffers) => this.send({ ...content, id: node.id }, buffers);
    const picture = () => this.model.get("images")?.[String(node.id)];
    const control = shown(makeControl(node, send, picture));
    this.controls.set(node.id, control);
    return control.el;
  }
};
function shown(control) {
  const update = control.update;
  control.update = (spec, force) => {
    control.el.style.display = spec.hidden ? "none" : "";
    update(spec, force);
  };
  return control;
}
var STATE_KEYS = /* @__PURE__ */ new Set([
  "value",
  "index",
  "disabled",
  "style",
  "readout",
  "max",
  "placeholder",
  "text",
  "label",
  "tooltip",
  "hidden",
  "count"
]);
var isState = (key) => STATE_KEYS.has(key);
function div(className) {
  const node = document.createElement("div");
  node.className = className;
  return node;
}
function field(label) {
  const box = div("dwp-field");
  const name = document.createElement("span");
  name.className = "dwp-label";
  box.append(name);
  const setLabel = (text) => {
    name.textContent = text;
    name.style.display = text ? "" : "none";
  };
  setLabel(label);
  return { box, setLabel };
}
function makeControl(spec, send, picture) {
  switch (spec.kind) {
    case "button":
      return makeButton(send);
    case "text":
      return makeText(send);
    case "choice":
      return spec.look === "buttons" ? makeToggles(send) : makeChoice(send);
    case "slider":
      return makeSlider(send);
    case "progress":
      return makeProgress();
    case "upload":
      return makeUpload(send);
    case "image":
      return makeImage(picture);
    default:
      return makeLabel(spec.kind === "missing");
  }
}
function makeButton(send) {
  const el = document.createElement("button");
  el.type = "button";
  el.className = "dwp-button";
  el.addEventListener("click", () => send({ type: "click" }));
  return {
    el,
    update(spec) {
      el.textContent = spec.label;
      el.title = spec.tooltip || "";
      el.disabled = Boolean(spec.disabled);
      el.className = `dwp-button${spec.style ? ` dwp-${spec.style}` : ""}`;
    }
  };
}
function makeText(send) {
  const { box, setLabel } = field("");
  const input = document.createElement("input");
  input.type = "text";
  box.append(input);
  let kernelValue = null;
  input.addEventListener("change", () => send({ type: "set", value: input.value }));
  return {
    el: box,
    update(spec, force = false) {
      setLabel(spec.label);
      input.placeholder = spec.placeholder || "";
      input.disabled = Boolean(spec.disabled);
      input.setAttribute("aria-label", spec.label || spec.placeholder || "");
      if (force || spec.value !== kernelValue) {
        kernelValue = spec.value;
        input.value = spec.value;
      }
    }
  };
}
function makeChoice(send) {
  const { box, setLabel } = field("");
  const select = document.createElement("select");
  box.append(select);
  select.addEventListener("change", () => send({ type: "set", value: select.selectedIndex }));
  let options = "";
  return {
    el: box,
    update(spec) {
      setLabel(spec.label);
      const key = JSON.stringify(spec.options);
      if (key !== options) {
        options = key;
        select.replaceChildren(
          ...spec.options.map((text) => Object.assign(document.createElement("option"), { text }))
        );
      }
      select.selectedIndex = spec.index ?? -1;
      select.disabled = Boolean(spec.disabled);
    }
  };
}
function makeToggles(send) {
  const { box, setLabel } = field("");
  const row = div("dwp-toggles");
  row.setAttribute("role", "group");
  box.append(row);
  let options = "";
  return {
    el: box,
    update(spec) {
      setLabel(spec.label);
      const key = JSON.stringify(spec.options);
      if (key !== options) {
        options = key;
        row.replaceChildren(
          ...spec.options.map((text, index) => {
            const button = document.createElement("button");
            button.type = "button";
            button.className = "dwp-button";
            button.textContent = text;
            button.addEventListener("click", () => send({ type: "set", value: index }));
            return button;
          })
        );
      }
      [...row.children].forEach((button, index) => {
        button.setAttribute("aria-pressed", String(index === spec.index));
        button.disabled = Boolean(spec.disabled);
      });
    }
  };
}
function makeUpload(send) {
  const el = div("dwp-upload");
  const button = document.createElement("button");
  button.type = "button";
  const input = document.createElement("input");
  input.type = "file";
  input.style.display = "none";
  const note = div("dwp-note");
  el.append(button, input, note);
  button.addEventListener("click", () => input.click());
  let maxBytes = Infinity;
  input.addEventListener("change", async () => {
    const files = [...input.files];
    input.value = "";
    const big = files.find((file) => file.size > maxBytes);
    note.textContent = big ? `${big.name} is ${size(big.size)}; files up to ${size(maxBytes)} can be opened` : "";
    if (big || files.length === 0) return;
    const buffers = await Promise.all(files.map((file) => file.arrayBuffer()));
    const meta = files.map(({ name, type, size: size2, lastModified }) => ({
      name,
      type,
      size: size2,
      last_modified: lastModified
    }));
    send({ type: "upload", files: meta }, buffers);
  });
  return {
    el,
    update(spec) {
      button.textContent = spec.count ? `${spec.label} (${spec.count})` : spec.label;
      button.disabled = Boolean(spec.disabled);
      button.className = `dwp-button${spec.style ? ` dwp-${spec.style}` : ""}`;
      input.accept = spec.accept || "";
      input.multiple = Boolean(spec.multiple);
      maxBytes = spec.max_bytes ?? Infinity;
    }
  };
}
var size = (bytes) => bytes >= 2 ** 20 ? `${+(bytes / 2 ** 20).toFixed(1)} MB` : `${+(bytes / 2 ** 10).toFixed(1)} KB`;
function makeImage(picture) {
  const el = document.createElement("img");
  el.className = "dwp-image";
  let bytes = null;
  let url = null;
  const release = () => url && URL.revokeObjectURL(url);
  return {
    el,
    update(spec) {
      const now = picture();
      if (now === bytes) return;
      bytes = now;
      release();
      url = bytes?.byteLength ? URL.createObjectURL(new Blob([bytes], { type: `image/${spec.format}` })) : null;
      if (url) el.src = url;
      else el.removeAttribute("src");
    },
    destroy: release
  };
}
function makeSlider(send) {
  const { box, setLabel } = field("");
  const input = document.createElement("input");
  input.type = "range";
  const readout = document.createElement("span");
  readout.className = "dwp-readout";
  box.append(input, readout);
  let base = null;
  input.addEventListener("change", () => {
    const x = Number(input.value);
    send({ type: "set", value: base ? base ** x : x });
  });
  return {
    el: box,
    update(spec, force = false) {
      setLabel(spec.label);
      base = spec.log_base;
      Object.assign(input, { min: spec.min, max: spec.max, step: spec.step });
      if (force || document.activeElement !== input) {
        input.value = base ? Math.log(spec.value) / Math.log(base) : spec.value;
      }
      input.disabled = Boolean(spec.disabled);
      readout.textContent = spec.readout;
    }
  };
}
function makeProgress() {
  const { box, setLabel } = field("");
  const bar = document.createElement("progress");
  box.append(bar);
  return {
    el: box,
    update(spec) {
      setLabel(spec.label);
      bar.max = spec.max || 1;
      bar.value = spec.value;
    }
  };
}
function makeLabel(missing) {
  const el = div(missing ? "dwp-missing" : "");
  return {
    el,
    update(spec) {
      el.textContent = missing ? `${spec.label} (not shown here)` : spec.text;
    }
  };
}
export {
  panel_default as default
};
