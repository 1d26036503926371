// The notebooks in a real browser: JupyterLab from .venv, headless on
// 127.0.0.1 with a token, driven in Debian's Chromium through playwright-core.
//
//  1. Opens a copy of notebooks/00-start-here.ipynb, runs all cells from the
//     Run menu, waits until the speedup chart's <img> has loaded, and saves a
//     screenshot. Fails on any error or stderr output in the page, a
//     "panicked at", a kernel that died, or a JavaScript error.
//  2. Opens an executed copy of a notebook (the newest in target/notebooks/,
//     written by tests/notebooks.py) that this server has never signed, so it
//     is untrusted, and checks that its chart still shows (naturalWidth > 0).
//
// Everything it writes goes to target/browser/: the screenshots, and a
// scratch folder (Jupyter's data, settings and runtime folders, Chromium's
// profile, the notebook copies). The copies sit in target/browser/site/notebooks/
// beside a link site/crate -> crate/, so their `:dep ... path = "../crate"`
// finds the crate and the shipped notebooks are never touched.
//
// Usage: node tests/browser/test.mjs   (tests/browser/run.sh installs what it needs first)

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const OUT = path.join(ROOT, "target", "browser");
const SCRATCH = path.join(OUT, "scratch");
const SITE = path.join(OUT, "site");
const START_HERE = "00-start-here.ipynb";
const CHART = 'img[src^="data:image/svg+xml;base64,"]';
const STDERR = '[data-mime-type="application/vnd.jupyter.stderr"]';
const RUN_ALL_LIMIT_MS = 15 * 60 * 1000; // a cold first build of the crate's dependencies
const t0 = Date.now();
const secs = (since = t0) => `${((Date.now() - since) / 1000).toFixed(1)} s`;
const say = (text) => console.log(`[browser] ${text}`);

class Failure extends Error {}
const fail = (text) => {
  throw new Failure(text);
};

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function writeJson(file, value) {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
}

function executedCopy() {
  const dir = path.join(ROOT, "target", "notebooks");
  const candidates = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((n) => n.endsWith(".ipynb"))
        .map((n) => path.join(dir, n))
        .filter((p) => fs.readFileSync(p, "utf8").includes("data:image/svg+xml;base64,"))
        .sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)
    : [];
  if (!candidates.length) fail("no executed notebook with a chart in target/notebooks/: run ./tests/run.sh (or tests/notebooks.py) first");
  return candidates[0];
}

// --- the site JupyterLab serves, and its private settings ------------------------
function prepare() {
  fs.rmSync(SCRATCH, { recursive: true, force: true });
  fs.rmSync(SITE, { recursive: true, force: true });
  fs.mkdirSync(path.join(SITE, "notebooks"), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "crate"), path.join(SITE, "crate"));
  fs.copyFileSync(path.join(ROOT, "notebooks", START_HERE), path.join(SITE, "notebooks", START_HERE));
  const source = executedCopy();
  const untrusted = `untrusted-${path.basename(source)}`;
  fs.copyFileSync(source, path.join(SITE, "notebooks", untrusted));
  const settings = path.join(SCRATCH, "lab-settings", "@jupyterlab");
  // No news or update pop-ups (and no fetching them), and every cell in the DOM
  // (JupyterLab otherwise renders only the cells near the viewport).
  writeJson(path.join(settings, "apputils-extension", "notification.jupyterlab-settings"), {
    fetchNews: "false",
    checkForUpdates: false,
  });
  writeJson(path.join(settings, "notebook-extension", "tracker.jupyterlab-settings"), { windowingMode: "none" });
  return { untrusted, source };
}

async function startJupyter() {
  const port = await freePort();
  const token = randomBytes(24).toString("hex");
  const env = {
    ...process.env,
    PATH: [path.join(process.env.CARGO_HOME || path.join(process.env.HOME, ".cargo"), "bin"), path.join(ROOT, ".venv", "bin"), process.env.PATH].join(":"),
    JUPYTER_PREFER_ENV_PATH: "1",
    // A fresh trust database: nothing opened here is trusted unless this
    // server signed it (it signs what it saves, and we save nothing).
    JUPYTER_DATA_DIR: path.join(SCRATCH, "data"),
    JUPYTER_CONFIG_DIR: path.join(SCRATCH, "config"),
    JUPYTER_RUNTIME_DIR: path.join(SCRATCH, "runtime"),
    JUPYTERLAB_SETTINGS_DIR: path.join(SCRATCH, "lab-settings"),
    JUPYTERLAB_WORKSPACES_DIR: path.join(SCRATCH, "workspaces"),
  };
  const log = fs.openSync(path.join(SCRATCH, "jupyter.log"), "w");
  const server = spawn(
    path.join(ROOT, ".venv", "bin", "jupyter"),
    [
      "lab",
      "--no-browser",
      "--ServerApp.ip=127.0.0.1",
      `--ServerApp.port=${port}`,
      "--ServerApp.port_retries=0",
      `--IdentityProvider.token=${token}`,
      `--ServerApp.root_dir=${SITE}`,
      "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
      // CI runs as root; Jupyter refuses that unless told.
      ...(process.getuid?.() === 0 ? ["--ServerApp.allow_root=True"] : []),
    ],
    { env, stdio: ["ignore", log, log], detached: true },
  );
  const base = `http://127.0.0.1:${port}`;
  const api = async (route, options = {}) => {
    const res = await fetch(`${base}${route}`, { ...options, headers: { Authorization: `token ${token}` } });
    if (!res.ok) fail(`${options.method || "GET"} ${route}: HTTP ${res.status}`);
    return res.status === 204 ? null : res.json();
  };
  const jupyter = { server, base, token, api };
  const started = Date.now();
  for (;;) {
    if (server.exitCode !== null) fail(`JupyterLab exited with ${server.exitCode}; see ${path.join(SCRATCH, "jupyter.log")}`);
    try {
      await api("/api/status");
      return jupyter;
    } catch {
      if (Date.now() - started > 60_000) {
        await stopJupyter(jupyter);
        fail("JupyterLab did not answer within 60 s");
      }
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

async function stopJupyter({ server, api }) {
  try {
    // Shut the kernels down properly: each holds a build directory under a lock.
    for (const session of await api("/api/sessions")) await api(`/api/sessions/${session.id}`, { method: "DELETE" });
  } catch {
    // the server may already be gone
  }
  const exited = new Promise((resolve) => server.once("exit", resolve));
  try {
    process.kill(-server.pid, "SIGTERM");
  } catch {
    return;
  }
  const timer = setTimeout(() => {
    try {
      process.kill(-server.pid, "SIGKILL");
    } catch {
      // gone
    }
  }, 10_000);
  await exited;
  clearTimeout(timer);
}

// --- what the page shows ------------------------------------------------------
async function problemsIn(page) {
  return page.evaluate(
    ({ STDERR }) => {
      const problems = [];
      for (const el of document.querySelectorAll(`.jp-OutputArea-output${STDERR}, .jp-OutputArea-output ${STDERR}`)) {
        problems.push(`error or stderr output: ${el.innerText.trim().slice(0, 400)}`);
      }
      const outputs = [...document.querySelectorAll(".jp-OutputArea")].map((o) => o.innerText).join("\n");
      if (outputs.includes("panicked at")) problems.push("a panic (\"panicked at\") in an output");
      for (const dialog of document.querySelectorAll(".jp-Dialog")) {
        problems.push(`a dialog: ${dialog.innerText.trim().slice(0, 200)}`);
      }
      return [...new Set(problems)];
    },
    { STDERR },
  );
}

async function promptStates(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll(".jp-CodeCell")].map((cell) => {
      const prompt = cell.querySelector(".jp-InputArea-prompt")?.innerText.trim() ?? "";
      return prompt.includes("*") ? "running" : /\d/.test(prompt) ? "done" : "not run";
    }),
  );
}

async function openNotebook(page, base, token, name) {
  await page.goto(`${base}/lab/tree/notebooks/${name}?reset&token=${token}`);
  const panel = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)").filter({ has: page.locator(".jp-Notebook") });
  await panel.locator(".jp-Cell").first().waitFor({ timeout: 60_000 });
  return panel;
}

async function waitForKernelIdle(api, name, limitMs) {
  const started = Date.now();
  for (;;) {
    const sessions = await api("/api/sessions");
    const session = sessions.find((s) => s.path.endsWith(name));
    if (session?.kernel?.execution_state === "idle") return session;
    if (session?.kernel?.execution_state === "dead") fail(`the kernel of ${name} died`);
    if (Date.now() - started > limitMs) fail(`the kernel of ${name} was not idle after ${limitMs / 1000} s (${session?.kernel?.execution_state ?? "no session"})`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function chartShown(panel) {
  const img = panel.locator(`.jp-OutputArea-output ${CHART}`).first();
  await img.waitFor({ state: "attached", timeout: 30_000 });
  await img.evaluate((el) => el.scrollIntoView({ block: "center" }));
  await img.waitFor({ state: "visible", timeout: 10_000 });
  const size = await img.evaluate((el) => (el.complete ? [el.naturalWidth, el.naturalHeight] : [0, 0]));
  if (!(size[0] > 0 && size[1] > 0)) fail(`the chart <img> did not load (naturalWidth ${size[0]})`);
  return size;
}

// --- the test -------------------------------------------------------------------
async function main() {
  const { untrusted, source } = prepare();
  const jupyter = await startJupyter();
  say(`JupyterLab up on 127.0.0.1 in ${secs()}`);
  const { base, token, api } = jupyter;
  const jsErrors = [];
  let context;
  let page;
  try {
    context = await chromium.launchPersistentContext(path.join(SCRATCH, "chromium-profile"), {
      executablePath: "/usr/bin/chromium",
      headless: true,
      viewport: { width: 1280, height: 900 },
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on("pageerror", (err) => jsErrors.push(String(err).slice(0, 300)));

    // 1. Run all cells of the start-here notebook.
    let since = Date.now();
    const panel = await openNotebook(page, base, token, START_HERE);
    await waitForKernelIdle(api, START_HERE, 120_000);
    say(`${START_HERE} open, kernel idle, in ${secs(since)}`);
    since = Date.now();
    await page.locator(".lm-MenuBar-itemLabel", { hasText: /^Run$/ }).click();
    await page.locator(".lm-Menu-itemLabel", { hasText: /^Run All Cells$/ }).click();
    for (;;) {
      const states = await promptStates(page);
      const problems = await problemsIn(page);
      if (problems.length) fail(`${START_HERE}: ${problems.join("; ")}`);
      if (states.length && states.every((s) => s === "done")) break;
      if (Date.now() - since > RUN_ALL_LIMIT_MS) fail(`Run All did not finish in ${RUN_ALL_LIMIT_MS / 60000} minutes (cells: ${states.join(", ")})`);
      await page.waitForTimeout(250);
    }
    await waitForKernelIdle(api, START_HERE, 60_000);
    const size = await chartShown(panel);
    const problems = await problemsIn(page);
    if (problems.length) fail(`${START_HERE}: ${problems.join("; ")}`);
    const cells = (await promptStates(page)).length;
    await page.screenshot({ path: path.join(OUT, "00-start-here.png") });
    say(`${START_HERE}: Run All, ${cells} code cells, no error or stderr, chart drawn (${size[0]}x${size[1]}) in ${secs(since)}; screenshot target/browser/00-start-here.png`);

    // 2. An executed copy, untrusted: its saved chart must still show.
    since = Date.now();
    const model = await api(`/api/contents/notebooks/${untrusted}?content=1`);
    const trust = model.content.cells.filter((c) => c.cell_type === "code").map((c) => c.metadata.trusted);
    if (!trust.length || trust.some((t) => t !== false)) fail(`${untrusted} should be untrusted for this server, its cells say trusted=${[...new Set(trust)]}`);
    const panel2 = await openNotebook(page, base, token, untrusted);
    const size2 = await chartShown(panel2);
    await page.screenshot({ path: path.join(OUT, "untrusted.png") });
    say(`${untrusted} (from ${path.relative(ROOT, source)}) opened untrusted: chart shown (${size2[0]}x${size2[1]}) in ${secs(since)}; screenshot target/browser/untrusted.png`);
    if (jsErrors.length) fail(`JavaScript errors in the page: ${jsErrors.join("; ")}`);
  } catch (err) {
    if (page) await page.screenshot({ path: path.join(OUT, "failure.png") }).catch(() => {});
    throw err;
  } finally {
    if (context) await context.close().catch(() => {});
    await stopJupyter(jupyter);
  }
  say(`passed in ${secs()}`);
  console.log("browser: 2 passed, 0 failed");
}

main().catch((err) => {
  console.error(`[browser] FAILED: ${err instanceof Failure ? err.message : err.stack || err}`);
  console.error(`[browser] see target/browser/failure.png and ${path.relative(ROOT, path.join(SCRATCH, "jupyter.log"))}`);
  console.log("browser: 0 passed, 1 failed");
  process.exit(1);
});
