// dragwidget front end: an anywidget ES module, bundled into ../dragwidget/static/widget.js
// (see ../README.md).

import { DragView } from "./view.js";

export default {
  render({ model, el }) {
    const view = new DragView(model, el);
    return () => view.destroy();
  },
};
