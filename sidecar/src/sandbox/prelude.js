// odw prelude: the workflow primitives, defined in the guest on top of two private host
// functions. Evaluated once per run before the user's script. Everything crosses the boundary as
// JSON strings; the host answers with envelopes {ok, value} or {ok:false, code, message}.
(function (global) {
  "use strict";
  const hostCall = global.__odw_call;   // (op, json) -> envelope string with {id}
  const hostSync = global.__odw_sync;   // (op, json) -> envelope string
  delete global.__odw_call;
  delete global.__odw_sync;

  const FATAL = new Set(["cancelled", "budget_exhausted", "auth_failed"]);
  /// Items of one `parallel` started ahead of the scheduler when no maxConcurrency is given.
  const WINDOW = 4096;
  const pending = new Map();

  function makeError(env) {
    const e = new Error(env.message || "host error");
    if (env.code) e.code = env.code;
    if (env.name) e.name = env.name;
    // Failures the host already reported as an event (agentFailed) are not logged twice.
    if (env.reported) Object.defineProperty(e, "agentFailure", { value: true });
    return e;
  }
  function unwrap(text) {
    const env = JSON.parse(text);
    if (!env.ok) throw makeError(env);
    return env.value;
  }
  function sync(op, payload) {
    return unwrap(hostSync(op, JSON.stringify(payload === undefined ? null : payload)));
  }
  function call(op, payload) {
    let env;
    try {
      env = JSON.parse(hostCall(op, JSON.stringify(payload === undefined ? null : payload)));
    } catch (e) {
      return Promise.reject(e);
    }
    if (!env.ok) return Promise.reject(makeError(env));
    return new Promise((resolve, reject) => pending.set(env.value, { resolve, reject }));
  }
  // The host settles async calls through this function. It keeps a handle to it and deletes
  // it from the global object before the user's script runs, so a script cannot forge results.
  Object.defineProperty(global, "__odw_settle", {
    value: function (id, text) {
      const p = pending.get(id);
      if (!p) return;
      pending.delete(id);
      let env;
      try { env = JSON.parse(text); } catch (e) { p.reject(e); return; }
      if (env.ok) p.resolve(env.value); else p.reject(makeError(env));
    },
    enumerable: false,
    configurable: true,
  });
  const isFatal = (e) => e && typeof e === "object" && FATAL.has(e.code);
  const describe = (e) => (e && e.message) ? e.message : String(e);

  // ---- determinism: time and randomness come from the host (recorded, replayed on resume)
  const RealDate = Date;
  const now = () => sync("now");
  function OdwDate(...a) {
    if (!new.target) return new RealDate(now()).toString();
    return a.length ? new RealDate(...a) : new RealDate(now());
  }
  OdwDate.prototype = RealDate.prototype;
  OdwDate.now = now;
  OdwDate.UTC = RealDate.UTC;
  OdwDate.parse = RealDate.parse;
  global.Date = OdwDate;
  Math.random = () => sync("random");
  const perfStart = now();
  global.performance = Object.freeze({ now: () => now() - perfStart });

  // ---- logging
  function str(v) {
    if (typeof v === "string") return v;
    try { const s = JSON.stringify(v); return s === undefined ? String(v) : s; } catch (_) { return String(v); }
  }
  function log(message, level) {
    sync("log", { message: str(message), level: level || "info" });
  }
  const consoleLevel = (level) => (...xs) => sync("log", { message: xs.map(str).join(" "), level });
  global.console = Object.freeze({
    log: consoleLevel("info"), info: consoleLevel("info"), debug: consoleLevel("debug"),
    warn: consoleLevel("warn"), error: consoleLevel("error"),
  });

  // ---- phases: explicit `phase` option on a call wins, else the phase current at call time
  let currentPhase = null;
  function phase(title) {
    currentPhase = String(title);
    sync("phase", { title: currentPhase });
  }

  // ---- agent
  function agent(a, b) {
    let opts;
    if (typeof a === "string") opts = Object.assign({}, b || {}, { prompt: a });
    else if (a && typeof a === "object") opts = Object.assign({}, a);
    else throw new TypeError("agent(prompt, opts?) or agent({prompt, ...}): prompt is required");
    if (typeof opts.prompt !== "string" || opts.prompt.length === 0)
      throw new TypeError("agent: prompt must be a non-empty string");
    if (opts.systemPrompt !== undefined && opts.system === undefined) opts.system = opts.systemPrompt;
    delete opts.systemPrompt;
    if (opts.phase === undefined && currentPhase !== null) opts.phase = currentPhase;
    return call("agent", opts);
  }

  // ---- parallel: a barrier; failed items settle to null, fatal errors propagate
  function parallel(tasks, opts) {
    if (!Array.isArray(tasks)) return Promise.reject(new TypeError("parallel(tasks): tasks must be an array"));
    const n = tasks.length;
    // Without maxConcurrency every item may run at once; the host's scheduler bounds what is
    // really in flight, so only WINDOW items are started ahead of it. That keeps the guest's
    // memory proportional to the window, not to a million-item fan-out.
    const limit = Math.max(1, Math.min(n || 1, (opts && opts.maxConcurrency) || WINDOW));
    const results = new Array(n).fill(null);
    let next = 0;
    let fatal = null;
    return new Promise((resolve, reject) => {
      if (n === 0) { resolve(results); return; }
      let active = 0;
      let done = 0;
      const finish = () => {
        done++;
        active--;
        if (fatal) { if (active === 0) reject(fatal); return; }
        if (done === n) resolve(results); else pump();
      };
      const pump = () => {
        while (!fatal && active < limit && next < n) {
          const i = next++;
          const t = tasks[i];
          active++;
          let p;
          try { p = Promise.resolve(typeof t === "function" ? t() : t); }
          catch (e) { p = Promise.reject(e); }
          p.then((v) => { results[i] = v === undefined ? null : v; finish(); },
            (e) => {
              if (isFatal(e)) { fatal = fatal || e; }
              else if (!(e && e.agentFailure)) log("parallel item " + i + " failed: " + describe(e), "warn");
              finish();
            });
        }
      };
      pump();
    });
  }

  // ---- pipeline: no barrier between stages; each item flows on its own
  function pipeline(items, ...rest) {
    let stages = rest;
    let opts = {};
    if (rest.length && Array.isArray(rest[0])) { stages = rest[0]; opts = rest[1] || {}; }
    if (!Array.isArray(items)) return Promise.reject(new TypeError("pipeline(items, ...stages): items must be an array"));
    for (const s of stages) if (typeof s !== "function") return Promise.reject(new TypeError("pipeline: every stage must be a function"));
    const run = (item, index) => async () => {
      let prev = item;
      for (const stage of stages) prev = await stage(prev, item, index);
      return prev;
    };
    return parallel(items.map((it, i) => run(it, i)), { maxConcurrency: opts.maxConcurrency || items.length || 1 });
  }

  // ---- loop
  async function loop(cond, body, opts) {
    const max = (opts && opts.maxIterations) || 100;
    let last;
    for (let i = 0; ; i++) {
      if (await cond()) return last;
      if (i >= max) throw new Error("loop: exceeded maxIterations (" + max + ")");
      last = await body(i);
    }
  }

  // ---- verify: critics are agents returning a verdict
  const VERDICT = {
    type: "object",
    properties: {
      approved: { type: "boolean" }, confidence: { type: "number" },
      critique: { type: "string" }, rejectedItems: { type: "array" },
    },
    required: ["approved", "confidence"],
  };
  async function verify(cfg) {
    if (!cfg || cfg.target === undefined) throw new TypeError("verify: target is required");
    const critics = cfg.critics;
    if (!Array.isArray(critics) || critics.length === 0) throw new TypeError("verify: critics must be a non-empty array");
    const mode = cfg.mode || "adversarial";
    if (mode !== "adversarial" && mode !== "consensus") throw new TypeError("verify: mode must be \"adversarial\" or \"consensus\"");
    const threshold = cfg.consensusThreshold || Math.ceil(critics.length / 2);
    const minConfidence = cfg.minConfidence || 0;
    const text = JSON.stringify(compact(cfg.target, { maxChars: cfg.maxChars || 60000 }));
    const verdicts = await parallel(critics.map((c, i) => async () => {
      const critic = typeof c === "string" ? { prompt: c } : (c || {});
      try {
        const v = await agent({
          prompt: (critic.prompt || "Critique these findings.") +
            "\n\nFindings to review (JSON):\n" + text +
            "\n\nReturn your verdict: approved (boolean), confidence (0..1), critique, and rejectedItems (indexes or items of the findings you reject).",
          role: critic.role || "critic", model: critic.model, system: critic.system,
          maxTokens: critic.maxTokens || 4000, schema: VERDICT,
          label: critic.label || ("critic " + (i + 1)), phase: critic.phase,
        });
        return Object.assign({ critique: "", rejectedItems: [] }, v);
      } catch (e) {
        if (isFatal(e)) throw e;
        return { approved: false, confidence: 0, critique: "critic failed: " + describe(e), rejectedItems: [], failed: true };
      }
    }));
    const confident = verdicts.filter((v) => v && !v.failed && v.confidence >= minConfidence);
    const approvals = confident.filter((v) => v.approved).length;
    const rejections = confident.filter((v) => !v.approved).length;
    const passed = mode === "adversarial" ? rejections < threshold : approvals >= threshold;
    let kept = cfg.target;
    let rejected = [];
    if (Array.isArray(cfg.target)) {
      const votes = new Array(cfg.target.length).fill(0);
      const keyOf = (x) => typeof x === "string" ? x : JSON.stringify(x);
      const index = new Map(cfg.target.map((x, i) => [keyOf(x), i]));
      for (const v of confident) {
        const seen = new Set();
        for (const r of (Array.isArray(v.rejectedItems) ? v.rejectedItems : [])) {
          const i = (typeof r === "number" && Number.isInteger(r)) ? r : index.get(keyOf(r));
          if (i !== undefined && i >= 0 && i < votes.length && !seen.has(i)) { seen.add(i); votes[i]++; }
        }
      }
      kept = cfg.target.filter((_, i) => votes[i] < threshold);
      rejected = cfg.target.filter((_, i) => votes[i] >= threshold);
    }
    return { passed, mode, approvals, rejections, threshold, kept, rejected, verdicts, target: cfg.target };
  }

  // ---- compact: drop whole items so the result stays valid JSON and fits maxChars
  function compact(value, opts) {
    const maxChars = (opts && opts.maxChars) || 20000;
    const size = (v) => { const s = JSON.stringify(v); return s === undefined ? 0 : s.length; };
    if (size(value) <= maxChars) return value;
    const v = JSON.parse(JSON.stringify(value));
    let dropped = 0;
    const shrink = (x) => {
      if (typeof x === "string") {
        const keep = Math.max(0, maxChars - 40);
        return x.length > keep ? x.slice(0, keep) + " …[truncated " + (x.length - keep) + " chars]" : x;
      }
      if (Array.isArray(x)) {
        while (x.length > 1 && size(x) > maxChars) { x.pop(); dropped++; }
        if (x.length === 1 && size(x) > maxChars) x[0] = shrink(x[0]);
        return x;
      }
      if (x && typeof x === "object") {
        const keys = Object.keys(x);
        while (keys.length > 1 && size(x) > maxChars) { delete x[keys.pop()]; dropped++; }
        if (keys.length === 1 && size(x) > maxChars) x[keys[0]] = shrink(x[keys[0]]);
        return x;
      }
      return x;
    };
    const out = shrink(v);
    if (dropped) log("compact: dropped " + dropped + " item(s) to fit " + maxChars + " chars", "debug");
    return out;
  }

  // ---- summarize: map-reduce over agents
  async function summarize(text, opts) {
    const o = opts || {};
    const s = typeof text === "string" ? text : JSON.stringify(text);
    const maxChars = o.maxChars || 4000;
    const chunkSize = o.chunkSize || 12000;
    if (s.length <= maxChars) return s;
    const instruction = o.instruction || "Summarize the following, preserving facts, names, numbers and paths.";
    const chunks = [];
    for (let i = 0; i < s.length; i += chunkSize) chunks.push(s.slice(i, i + chunkSize));
    const parts = await parallel(chunks.map((c, i) => () => agent({
      prompt: instruction + "\n\n" + c, role: o.role || "summarizer", model: o.model,
      maxTokens: o.maxTokens || 1000, label: "summarize " + (i + 1) + "/" + chunks.length,
    })));
    let joined = parts.map((p, i) => p === null ? chunks[i].slice(0, 1000) : p).join("\n");
    if (joined.length > maxChars) {
      joined = await agent({
        prompt: instruction + " Keep it under " + maxChars + " characters.\n\n" + joined.slice(0, 2 * chunkSize),
        role: o.role || "summarizer", model: o.model, maxTokens: o.maxTokens || 1000, label: "summarize (reduce)",
      });
    }
    return joined;
  }

  // ---- checkpoint, budget, args, workflow, tools
  // A checkpoint that cannot be recorded throws at the call, awaited or not: a rejected promise
  // nobody awaits would lose it silently.
  function checkpoint(data, name) {
    sync("checkpoint", { data: data === undefined ? null : data, name: name || (data && typeof data.phase === "string" ? data.phase : currentPhase) });
    return Promise.resolve(null);
  }
  // A function that also carries properties, so both `budget()` and `budget.total`, and both
  // `args()` (the original engine) and `args.files` (the meta dialect) work.
  function callableWith(fn, props) {
    // A function's own `name` and `length` would shadow missing keys (`args.name` must be
    // undefined when the run has no `name` argument).
    for (const k of ["name", "length"]) {
      Object.defineProperty(fn, k, { value: undefined, enumerable: false, configurable: true, writable: true });
    }
    for (const k of Object.keys(props)) {
      Object.defineProperty(fn, k, { value: props[k], enumerable: true, configurable: true, writable: true });
    }
    return fn;
  }
  const argsValue = sync("args");
  const args = callableWith(function args() { return argsValue; }, argsValue && typeof argsValue === "object" ? argsValue : {});
  const budgetInfo = () => sync("budget");
  const budget = callableWith(function budget() { return budgetInfo(); }, {});
  Object.defineProperty(budget, "total", { get: () => budgetInfo().maxTokens, enumerable: true });
  budget.spent = () => budgetInfo().tokensUsed;
  budget.remaining = () => { const b = budgetInfo(); return b.maxTokens == null ? Infinity : Math.max(0, b.maxTokens - b.tokensUsed); };
  function workflow(nameOrPath, wfArgs) {
    return call("workflow", { script: String(nameOrPath), args: wfArgs === undefined ? {} : wfArgs });
  }
  const tool = (name) => (...a) => call("tool", { name, args: a });
  const tools = Object.freeze({
    glob: tool("glob"), read_file: tool("read_file"), readFile: tool("read_file"), search: tool("search"),
    write_file: tool("write_file"), writeFile: tool("write_file"), run_bash: tool("run_bash"), runBash: tool("run_bash"), git: tool("git"),
    web_fetch: tool("web_fetch"), webFetch: tool("web_fetch"),
  });
  const context = Object.freeze({
    args: () => argsValue, tools, budget, log, phase, agent, parallel, pipeline, verify, checkpoint, strategy: {},
  });

  const globals = { agent, parallel, pipeline, loop, verify, phase, log, checkpoint, budget, args, workflow, compact, summarize, context };
  for (const k of Object.keys(globals)) {
    Object.defineProperty(global, k, { value: globals[k], writable: true, configurable: true, enumerable: false });
  }
  global.module = { exports: {} };
  global.exports = global.module.exports;

  // Starts the script's entry point and reports the outcome to the host exactly once.
  Object.defineProperty(global, "__odw_start", {
    value: function (dialect) {
      let p;
      try {
        if (dialect === "meta") {
          const main = global.__odw_main;
          delete global.__odw_main;
          p = main();
        } else {
          const m = global.module && global.module.exports;
          const fn = (m && typeof m.execute === "function") ? m.execute
            : (global.exports && typeof global.exports.execute === "function") ? global.exports.execute
              : (typeof global.execute === "function") ? global.execute : null;
          if (!fn) throw new Error("script must define execute: `module.exports = { execute }`, `exports.execute = …` or a top-level `async function execute(context)`");
          p = fn(context);
        }
      } catch (e) { p = Promise.reject(e); }
      Promise.resolve(p).then((v) => {
        let json;
        try { json = JSON.stringify(v === undefined ? null : v); }
        catch (e) { hostSync("finish", JSON.stringify({ ok: false, name: "TypeError", message: "the workflow's result is not JSON-serialisable: " + describe(e) })); return; }
        hostSync("finish", JSON.stringify({ ok: true, value: json === undefined ? "null" : json }));
      }, (e) => {
        // Something that is not an Error carries no message and no location: say what it was.
        const err = (e && typeof e === "object") ? e
          : { message: "the workflow threw " + (typeof e === "string" ? JSON.stringify(e) : String(e))
              + " instead of an Error, so there is no location: throw new Error(\"…\") to get one"
              + (e === null ? " (QuickJS also throws null when its memory runs short while building an error)" : "") };
        let message = err.message === undefined ? String(e) : String(err.message);
        if (message === "") message = "(an empty message)";
        hostSync("finish", JSON.stringify({
          ok: false, name: err.name || "Error", message,
          stack: typeof err.stack === "string" ? err.stack : "", code: typeof err.code === "string" ? err.code : null,
        }));
      });
    },
    enumerable: false,
    configurable: true,
  });
})(globalThis);
