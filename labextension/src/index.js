// Jupyter Orbit in JupyterLab: a Launcher tile and a Help-menu entry that open Orbit's kernel
// menu (served by Orbit's server extension at <base>/orbit/launcher) in a new window; and each
// notebook's kernel followed while Orbit prepares it (builds.js).
import { ILauncher } from "@jupyterlab/launcher";
import { IMainMenu } from "@jupyterlab/mainmenu";
import { PageConfig, URLExt } from "@jupyterlab/coreutils";
import { LabIcon } from "@jupyterlab/ui-components";

import { buildsPlugin } from "./builds";

const COMMAND = "orbit:open-launcher";

const orbitIcon = new LabIcon({
  name: "jupyter-orbit:orbit",
  svgstr:
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="16" height="16">' +
    '<circle cx="32" cy="32" r="11" fill="#f37726"/>' +
    '<ellipse cx="32" cy="32" rx="28" ry="11" fill="none" stroke="#616161" stroke-width="4" ' +
    'transform="rotate(-25 32 32)"/><circle cx="55" cy="21" r="4.5" fill="#616161"/></svg>',
});

const plugin = {
  id: "jupyter-orbit:launcher",
  description: "Open Jupyter Orbit's kernel menu.",
  autoStart: true,
  optional: [ILauncher, IMainMenu],
  activate: (app, launcher, mainMenu) => {
    app.commands.addCommand(COMMAND, {
      label: (args) => (args.isLauncher ? "Kernel menu" : "Orbit Kernel Menu"),
      caption: "Open Jupyter Orbit's menu of kernels, each in its own environment",
      icon: orbitIcon,
      execute: () => {
        const url = URLExt.join(PageConfig.getBaseUrl(), "orbit/launcher");
        // noopener: the menu page gets no handle on this window.
        window.open(url, "_blank", "noopener");
      },
    });
    if (launcher) {
      launcher.add({ command: COMMAND, category: "Other", rank: 0, args: { isLauncher: true } });
    }
    if (mainMenu) {
      mainMenu.fileMenu.newMenu.addGroup([{ command: COMMAND }], 100);
      mainMenu.helpMenu.addGroup([{ command: COMMAND }], 0);
    }
  },
};

export default [plugin, buildsPlugin];
