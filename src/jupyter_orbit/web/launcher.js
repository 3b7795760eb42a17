// Orbit's kernel menu. No dependencies; talks to /orbit/api/launcher and Jupyter's contents API.
"use strict";

(function () {
  const base = document.querySelector('meta[name="orbit-base-url"]').content;
  const $ = (id) => document.getElementById(id);
  const storeKey = "orbit.folder";
  let state = null;
  let folder = localStorage.getItem(storeKey) || "";
  const engineKey = "orbit.engine";
  let engine = localStorage.getItem(engineKey) || ""; // where new kernels run ("": the default)
  let chosen = []; // [{ecosystem, name}]
  let busy = false;
  let clickedAt = 0;

  function xsrf() {
    const m = document.cookie.match(/(?:^|;\s*)_xsrf=([^;]*)/);
    return m ? decodeURIComponent(m[1]) : "";
  }

  async function api(path, options = {}) {
    const headers = { Accept: "application/json", ...(options.headers || {}) };
    const method = options.method || "GET";
    if (method !== "GET") headers["X-XSRFToken"] = xsrf();
    if (options.json !== undefined) {
      headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(options.json);
    }
    const r = await fetch(base + path, { method, headers, body: options.body, credentials: "same-origin" });
    const text = await r.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error((data && (data.message || data.reason)) || `${r.status} ${r.statusText}`);
      err.status = r.status;
      throw err;
    }
    return data;
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }

  const contentsUrl = (path) =>
    "api/contents/" + path.split("/").filter(Boolean).map(encodeURIComponent).join("/");

  // ---- the menu -------------------------------------------------------------------------

  async function load() {
    document.body.dataset.state = "loading";
    try {
      state = await api(
        "orbit/api/launcher?folder=" + encodeURIComponent(folder) + "&engine=" + encodeURIComponent(engine),
      );
    } catch (e) {
      if (engine && e.status === 400 && /place to run/.test(e.message)) { // a host removed since
        setEngine("");
        return load();
      }
      if (folder && e.status === 400) { // the remembered folder is gone: back to the root
        setFolder("");
        return load();
      }
      $("cards-error").textContent = "Could not load the kernel menu: " + e.message;
      $("cards-error").hidden = false;
      document.body.dataset.state = "error";
      return;
    }
    $("profile").textContent = "profile " + state.profile;
    $("root").textContent = state.root_dir;
    $("open-lab").href = base + "lab";
    $("folder-button").textContent = displayFolder(state.folder);
    renderEngines();
    renderCards();
    renderRecent();
    renderSections();
    document.body.dataset.state = "ready";
  }

  function displayFolder(rel) {
    const root = state ? state.root_dir : "";
    return rel ? `${root.replace(/\/$/, "")}/${rel}` : root || "/";
  }

  function setFolder(rel) {
    folder = rel;
    localStorage.setItem(storeKey, rel);
  }

  function setEngine(id) {
    engine = id;
    localStorage.setItem(engineKey, id);
  }

  // Where the new notebook's kernel runs: shown when there is more than one place.
  function renderEngines() {
    const select = $("engine");
    const engines = state.engines || [];
    select.replaceChildren(...engines.map((e) => el("option", { value: e.id, text: e.label })));
    select.value = state.engine;
    $("engine-line").hidden = engines.length < 2;
  }

  $("engine").addEventListener("change", (ev) => {
    setEngine(ev.target.value);
    load();
  });

  const LABELS = {
    ready: "Ready",
    installable: "Installs on first use",
    "needs-system": "Needs system packages",
    error: "Unavailable",
  };

  function renderCards() {
    const cards = $("cards");
    cards.replaceChildren();
    for (const k of state.kernels) {
      const blocked = k.state === "needs-system" || k.state === "error";
      const card = el(
        "button",
        {
          type: "button",
          class: "card",
          role: "listitem",
          "data-kernel": k.name,
          "data-state": k.state,
          "aria-disabled": blocked ? "true" : null,
          title: k.description,
          onclick: () => (blocked ? null : launch(k)),
        },
        el("img", { src: k.logo_url, alt: "", width: "48", height: "48" }),
        el("span", { class: "name", text: k.display_name }),
        el("span", { class: "lang muted", text: k.language }),
        el("span", { class: "badge " + k.state, text: LABELS[k.state] || k.state }),
        el("span", { class: "detail muted", text: k.detail || "" }),
      );
      if (k.command) {
        card.append(el("code", { class: "command", text: k.command }));
      }
      cards.append(card);
    }
  }

  function renderRecent() {
    const list = $("recent");
    list.replaceChildren();
    $("recent-empty").hidden = state.recent.length > 0;
    for (const p of state.recent) {
      const inside = p.rel !== null;
      const item = el(
        "li",
        { class: inside ? "" : "outside" },
        el("span", { class: "name", text: p.name }),
        el("span", { class: "muted where", text: p.path }),
        el("span", { class: "muted when", text: (p.used || "").replace("T", " ").replace(/\+.*$/, "") }),
      );
      if (inside) {
        item.append(
          el("button", {
            type: "button",
            class: "button subtle",
            text: "New notebook here",
            onclick: () => { setFolder(p.rel); load(); window.scrollTo(0, 0); },
          }),
        );
        const target = p.notebook_rel || p.rel;
        item.append(
          el("a", {
            class: "button subtle",
            href: base + "lab/tree/" + target.split("/").map(encodeURIComponent).join("/"),
            text: p.notebook_rel ? "Open last notebook" : "Open",
          }),
        );
      } else {
        item.append(el("span", { class: "muted", text: "outside this server's folder" }));
      }
      list.append(item);
    }
  }

  function renderSections() {
    // Features add {id, title, items: [{name, detail}]} to the state's "sections".
    const host = $("sections");
    host.replaceChildren();
    for (const s of state.sections || []) {
      const list = el("ul", { class: "recent" });
      for (const it of s.items || []) {
        list.append(el("li", {}, el("span", { class: "name", text: it.name }), el("span", { class: "muted", text: it.detail || "" })));
      }
      host.append(el("section", { "data-section": s.id }, el("h2", { text: s.title }), list));
    }
  }

  // ---- launching ------------------------------------------------------------------------

  const EXPECTED_STEPS = 8; // notebook, resolve, venv, resolve, install, bytecode, commit, kernel

  async function launch(kernel) {
    if (busy) return;
    busy = true;
    clickedAt = performance.now();
    document.body.dataset.state = "launching";
    $("progress").hidden = false;
    $("problem").hidden = true;
    $("steps").replaceChildren();
    $("log").replaceChildren();
    $("log").hidden = true;
    $("progress-title").textContent = `Preparing ${kernel.display_name}…`;
    setBar(0.03);
    $("progress").scrollIntoView({ behavior: "smooth", block: "start" });
    const packages = {};
    for (const c of chosen) (packages[c.ecosystem] = packages[c.ecosystem] || []).push(c.name);
    let job;
    try {
      job = await api("orbit/api/launcher/launch", {
        method: "POST",
        json: { kernel: kernel.name, folder: state.folder, packages, engine: state.engine },
      });
    } catch (e) {
      showProblem({ error: e.message, hint: "" }, null);
      return;
    }
    follow(job, kernel);
  }

  function follow(job, kernel) {
    const source = new EventSource(base + `orbit/api/launcher/jobs/${job.job}/events`);
    let steps = 0;
    let problem = null;
    source.onmessage = (msg) => {
      const ev = JSON.parse(msg.data);
      if (ev.step) {
        const done = $("steps").querySelector("li.current");
        if (done) done.className = "done";
        $("steps").append(el("li", { class: "current" }, el("b", { text: ev.step }), " ", el("span", { class: "muted", text: ev.detail || "" })));
        steps += 1;
        // the plan's "step n of m" when the build has one, else a guess from the usual count
        const part = ev.n ? 0.1 + (0.75 * ev.n) / ev.m : Math.min(0.9, steps / EXPECTED_STEPS);
        setBar(ev.step === "reuse" || ev.step === "kernel" ? 0.85 : part);
      } else if (ev.log) {
        $("log").hidden = false;
        $("log").append(ev.log + "\n");
        $("log").scrollTop = $("log").scrollHeight;
      } else if (ev.warning) {
        $("steps").append(el("li", { class: "warning", text: ev.warning }));
      } else if (ev.problem) {
        problem = ev.problem;
      }
      if (ev.done) {
        source.close();
        const current = $("steps").querySelector("li.current");
        if (current) current.className = ev.ok ? "done" : "failed";
        if (ev.ok) {
          setBar(1);
          $("progress-title").textContent = `${kernel.display_name} is ready (${ev.t.toFixed(1)} s)`;
          document.body.dataset.state = "opening";
          // click until the kernel answered, as this page saw it (read by bench/kernels.py)
          document.body.dataset.clickToReadyMs = String(Math.round(performance.now() - clickedAt));
          window.location.assign(base + ev.url);
        } else {
          showProblem(problem || { error: ev.error, hint: ev.hint }, ev.url ? ev : null);
        }
      }
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) showProblem({ error: "lost contact with the server", hint: "check `orbit status`" }, null);
    };
  }

  function setBar(fraction) {
    $("progress-bar").style.width = Math.round(fraction * 100) + "%";
  }

  function showProblem(problem, done) {
    busy = false;
    document.body.dataset.state = "problem";
    $("progress-title").textContent = "Something needs your attention";
    $("problem").hidden = false;
    $("problem-text").textContent = problem.error || "the kernel could not be prepared";
    $("problem-stderr").hidden = !(problem.stderr && problem.stderr.length);
    $("problem-stderr").textContent = (problem.stderr || []).join("\n");
    $("problem-hint").textContent = problem.hint ? "Fix: " + problem.hint : "";
    $("open-anyway").hidden = !done;
    $("open-anyway").onclick = () => done && window.location.assign(base + done.url);
  }

  $("back").addEventListener("click", () => {
    $("progress").hidden = true;
    busy = false;
    load();
  });

  // ---- package search (when the server offers it) ---------------------------------------

  async function probeSearch() {
    try {
      const r = await fetch(base + "orbit/api/search?q=", { credentials: "same-origin", headers: { Accept: "application/json" } });
      $("packages").hidden = r.status === 404;
    } catch (e) {
      $("packages").hidden = true;
    }
  }

  let searchTimer = null;
  let searchSeq = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(search, 250);
  });
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); search(); });

  async function search() {
    const q = $("search").value.trim();
    const seq = ++searchSeq;
    if (!q) { $("results").replaceChildren(); return; }
    let data;
    try {
      data = await api("orbit/api/search?q=" + encodeURIComponent(q));
    } catch (e) {
      $("results").replaceChildren(el("li", { class: "error", text: e.message }));
      return;
    }
    if (seq !== searchSeq) return;
    const items = Array.isArray(data) ? data : (data && data.results) || [];
    $("results").replaceChildren(
      ...items.slice(0, 20).map((r) =>
        el(
          "li",
          {},
          el("span", { class: "eco", text: r.ecosystem || "" }),
          el("span", { class: "name", text: r.name }),
          el("span", { class: "muted", text: r.version || r.latest || "" }),
          el("span", { class: "muted summary", text: r.summary || "" }),
          el("button", { type: "button", class: "button subtle", text: "Add", onclick: () => choose(r) }),
        ),
      ),
    );
  }

  function choose(r) {
    if (!chosen.some((c) => c.name === r.name && c.ecosystem === r.ecosystem)) {
      chosen.push({ ecosystem: r.ecosystem || "pypi", name: r.name });
    }
    renderChosen();
  }

  function renderChosen() {
    $("chosen").replaceChildren(
      ...chosen.map((c, i) =>
        el("li", {}, `${c.name} `, el("span", { class: "muted", text: c.ecosystem }),
          el("button", { type: "button", class: "chip-x", "aria-label": `Remove ${c.name}`, text: "×", onclick: () => { chosen.splice(i, 1); renderChosen(); } })),
      ),
    );
  }

  // ---- folder picker --------------------------------------------------------------------

  let browsing = "";

  async function browse(rel) {
    $("picker-error").hidden = true;
    let model;
    try {
      model = await api(contentsUrl(rel) + "?type=directory&content=1");
    } catch (e) {
      $("picker-error").textContent = e.message;
      $("picker-error").hidden = false;
      return;
    }
    browsing = rel;
    const crumbs = $("crumbs");
    crumbs.replaceChildren(el("button", { type: "button", class: "crumb", text: state.root_dir, onclick: () => browse("") }));
    const parts = rel.split("/").filter(Boolean);
    parts.forEach((part, i) => {
      crumbs.append(" / ", el("button", { type: "button", class: "crumb", text: part, onclick: () => browse(parts.slice(0, i + 1).join("/")) }));
    });
    const dirs = model.content.filter((c) => c.type === "directory").sort((a, b) => a.name.localeCompare(b.name));
    $("folders").replaceChildren(
      ...dirs.map((d) => el("li", {}, el("button", { type: "button", class: "folder", text: d.name, onclick: () => browse(d.path) }))),
    );
    if (!dirs.length) $("folders").append(el("li", { class: "muted", text: "no folders inside" }));
  }

  $("folder-button").addEventListener("click", () => {
    browse(state.folder).then(() => $("picker").showModal());
  });
  $("picker-cancel").addEventListener("click", () => $("picker").close());
  $("picker-choose").addEventListener("click", () => {
    $("picker").close();
    setFolder(browsing);
    load();
  });
  $("new-folder").addEventListener("click", async () => {
    const name = $("new-folder-name").value.trim();
    if (!name || name.includes("/") || name.startsWith(".")) {
      $("picker-error").textContent = "Give a folder name without '/' that does not start with '.'";
      $("picker-error").hidden = false;
      return;
    }
    const path = browsing ? `${browsing}/${name}` : name;
    try {
      await api(contentsUrl(path), { method: "PUT", json: { type: "directory" } });
      $("new-folder-name").value = "";
      browse(path);
    } catch (e) {
      $("picker-error").textContent = e.message;
      $("picker-error").hidden = false;
    }
  });

  // When the page comes back from JupyterLab (history), show the menu again, fresh.
  window.addEventListener("pageshow", (e) => {
    if (e.persisted) { busy = false; $("progress").hidden = true; load(); }
  });

  load();
  probeSearch();
})();
