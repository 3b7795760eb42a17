// Each notebook's kernel, followed while Orbit prepares it: the steps of its environment's build
// ("step n of m") beside the kernel's status and in a notification; the cells run meanwhile held
// and run once the kernel answers; a kernel that could not start told with its last stderr lines.
//
// The steps come from Orbit's server (orbit/api/builds/events, server-sent events: the same jobs
// the kernel menu follows). Nothing here writes to the notebook or its file.
import { Dialog, Notification, showDialog } from "@jupyterlab/apputils";
import { URLExt } from "@jupyterlab/coreutils";
import { INotebookTracker, NotebookActions } from "@jupyterlab/notebook";
import { ServerConnection } from "@jupyterlab/services";
import { Widget } from "@lumino/widgets";

const API = "orbit/api/builds/events";
const STARTING = new Set(["starting", "restarting", "autorestarting"]);

// The status beside the kernel's, in the notebook's toolbar: hidden when there is nothing to say.
class BuildStatus extends Widget {
  constructor() {
    super({ node: document.createElement("button") });
    this.addClass("jp-OrbitBuild");
    Object.assign(this.node.style, {
      border: "none",
      background: "none",
      color: "var(--jp-ui-font-color1)",
      fontSize: "var(--jp-ui-font-size1)",
      padding: "0 6px",
      whiteSpace: "nowrap",
      maxWidth: "32em",
      overflow: "hidden",
      textOverflow: "ellipsis",
      cursor: "default",
    });
    this.details = null;
    this.node.addEventListener("click", () => this.details && this.details());
    this.set("idle", "", "");
  }

  set(state, text, title, details = null) {
    this.node.dataset.state = state;
    this.node.textContent = text;
    this.node.title = title || text;
    this.details = details;
    this.node.style.cursor = details ? "pointer" : "default";
    this.node.style.color =
      state === "failed" ? "var(--jp-error-color1)" : "var(--jp-ui-font-color1)";
    if (state === "idle") {
      this.hide();
    } else {
      this.show();
    }
  }
}

// What the problem says, in a few lines: the message, the hint, and the kernel's stderr.
function describe(problem) {
  const lines = [problem.error || "unknown error"];
  if (problem.hint) {
    lines.push("", `Fix: ${problem.hint}`);
  }
  if (problem.stderr && problem.stderr.length) {
    lines.push("", "Its last lines on stderr:", ...problem.stderr.map((l) => `  ${l}`));
  }
  return lines.join("\n");
}

// What failed: the kernel itself (it exited as it started), or the build of its environment.
function failure(problem) {
  return problem.kind === "KernelDied"
    ? "the kernel could not start"
    : "the environment could not be built";
}

function showDetails(name, problem) {
  const body = document.createElement("pre");
  body.className = "jp-OrbitBuild-details";
  body.style.whiteSpace = "pre-wrap";
  body.textContent = describe(problem);
  return showDialog({
    title: `${name}: ${failure(problem)}`,
    body: new Widget({ node: body }),
    buttons: [Dialog.okButton()],
  });
}

// One notebook: follows its builds, and holds the cells run before its kernel is there.
class Follower {
  constructor(panel, settings) {
    this.panel = panel;
    this.settings = settings;
    this.status = new BuildStatus();
    this.queue = [];
    this.lastJob = "";
    this.reading = null;
    this.again = false;
    this.note = null;
    this.draining = false;
    this.abort = new AbortController();
    const ctx = panel.sessionContext;
    ctx.statusChanged.connect(this._onStatus, this);
    panel.disposed.connect(() => this.dispose());
    if (!ctx.session || !ctx.session.kernel) {
      this.follow();
    }
  }

  get name() {
    return this.panel.context.localPath.split("/").pop();
  }

  dispose() {
    this.abort.abort();
    this.panel.sessionContext.statusChanged.disconnect(this._onStatus, this);
  }

  _onStatus(_, status) {
    if (STARTING.has(status)) {
      this.follow();
    }
  }

  follow() {
    if (this.panel.isDisposed) {
      return;
    }
    if (this.reading) {
      // a kernel starting while the last answer is on its way (that answer may be "nothing
      // is being built", sent just before this start's build began): ask again after it
      this.again = true;
      return;
    }
    this.again = false;
    this.reading = this._read()
      .catch((err) => {
        if (err.name !== "AbortError") {
          console.warn("Orbit: following the kernel's build failed", err);
        }
      })
      .finally(() => {
        this.reading = null;
        if (this.again) {
          this.follow();
        }
      });
  }

  async _read() {
    const query = { path: this.panel.context.localPath };
    if (this.lastJob) {
      query.after = this.lastJob;
    }
    const url =
      URLExt.join(this.settings.baseUrl, API) + URLExt.objectToQueryString(query);
    const response = await ServerConnection.makeRequest(
      url,
      { signal: this.abort.signal },
      this.settings,
    );
    if (!response.ok || !response.body) {
      return;
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) {
        break;
      }
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        for (const line of block.split("\n")) {
          if (line.startsWith("data: ")) {
            this._event(JSON.parse(line.slice(6)));
          }
        }
      }
    }
  }

  _event(event) {
    if (event.job) {
      this.lastJob = event.job;
      return;
    }
    if (event.idle) {
      if (this.status.node.dataset.state !== "failed") {
        this.status.set("idle", "", "");
      }
      this._drain();
      return;
    }
    if (event.plan) {
      this.m = event.m;
      if (event.m > 0) {
        this._notify("in-progress", `Building the environment of ${this.name}`);
      }
      return;
    }
    if (event.step) {
      const where = event.n ? `step ${event.n} of ${event.m}: ` : "";
      const text =
        event.step === "kernel" ? "Orbit: starting the kernel" : `Orbit: ${where}${event.step}`;
      this.status.set("building", text, `${text}\n${event.detail || ""}`);
      if (this.note) {
        this._notify("in-progress", `${this.name}: ${where}${event.step} ${event.detail || ""}`);
      }
      return;
    }
    if (event.done) {
      if (event.ok) {
        this.status.set("ready", "Orbit: kernel ready", "The kernel answered");
        if (this.note) {
          this._notify("success", `The environment of ${this.name} is built`, 4000);
          this.note = null;
        }
        setTimeout(() => {
          if (this.status.node.dataset.state === "ready") {
            this.status.set("idle", "", "");
          }
        }, 4000);
      } else {
        const problem = event.problem || { error: "unknown error" };
        const open = () => showDetails(this.name, problem);
        this.status.set("failed", `Orbit: ${failure(problem)}`, describe(problem), open);
        const last = (problem.stderr || []).slice(-1)[0];
        const message = `${this.name}: ${problem.error}${last ? `: ${last}` : ""}`;
        this._notify("error", message, false, [{ label: "Details", callback: open }]);
        this.note = null;
      }
      this._drain();
    }
  }

  _notify(type, message, autoClose = false, actions = []) {
    const options = { autoClose, actions };
    if (this.note && Notification.manager.has(this.note)) {
      Notification.update({ id: this.note, message, type, ...options });
    } else {
      this.note = Notification.emit(message, type, options);
    }
  }

  // A cell was run: if the kernel is not there yet, JupyterLab would drop it; hold it instead.
  hold(cell) {
    const ctx = this.panel.sessionContext;
    if ((ctx.session && ctx.session.kernel) || ctx.hasNoKernel || ctx.isDisposed) {
      return false; // JupyterLab has a kernel to queue it with (or none is wanted)
    }
    if (!this.queue.includes(cell)) {
      this.queue.push(cell);
    }
    // After JupyterLab has cleared the cell's prompt: show it as waiting to run.
    queueMicrotask(() => {
      if (!cell.isDisposed && this.queue.includes(cell)) {
        cell.model.executionState = "running";
      }
    });
    this.follow();
    this._drain();
    return true;
  }

  // Run the held cells, in the order they were run, once the kernel answers.
  async _drain() {
    if (this.draining || !this.queue.length) {
      return;
    }
    this.draining = true;
    try {
      const ctx = this.panel.sessionContext;
      await kernelIdle(ctx);
      const cells = this.queue.filter((c) => !c.isDisposed);
      this.queue = [];
      for (const cell of cells) {
        cell.model.executionState = "idle";
      }
      if (cells.length && !this.panel.isDisposed) {
        await NotebookActions.runCells(this.panel.content, cells, ctx);
      }
    } finally {
      this.draining = false;
    }
    if (this.queue.length) {
      this._drain();
    }
  }
}

// Resolves when the session has a kernel that is connected and idle (it has answered).
function kernelIdle(ctx) {
  return new Promise((resolve) => {
    const check = () => {
      const kernel = ctx.session && ctx.session.kernel;
      if (kernel && kernel.connectionStatus === "connected" && kernel.status === "idle") {
        ctx.statusChanged.disconnect(check);
        ctx.connectionStatusChanged.disconnect(check);
        ctx.kernelChanged.disconnect(check);
        resolve(kernel);
      }
    };
    ctx.statusChanged.connect(check);
    ctx.connectionStatusChanged.connect(check);
    ctx.kernelChanged.connect(check);
    check();
  });
}

export const buildsPlugin = {
  id: "jupyter-orbit:builds",
  description: "Follow each notebook's kernel while Orbit prepares it; hold cells run meanwhile.",
  autoStart: true,
  requires: [INotebookTracker],
  activate: (app, tracker) => {
    const settings = ServerConnection.makeSettings();
    const followers = new Map();
    app.docRegistry.addWidgetExtension("Notebook", {
      createNew: (panel) => {
        const follower = new Follower(panel, settings);
        followers.set(panel, follower);
        panel.disposed.connect(() => followers.delete(panel));
        const toolbar = panel.toolbar;
        if (
          !toolbar.insertAfter("executionProgress", "orbitBuild", follower.status) &&
          !toolbar.insertAfter("kernelName", "orbitBuild", follower.status)
        ) {
          toolbar.addItem("orbitBuild", follower.status);
        }
        return follower.status;
      },
    });
    NotebookActions.executionScheduled.connect((_, { notebook, cell }) => {
      const panel = tracker.find((p) => p.content === notebook);
      const follower = panel && followers.get(panel);
      if (follower && cell.model.type === "code") {
        follower.hold(cell);
      }
    });
  },
};
