// odw topology helpers, evaluated right after prelude.js and available to every script:
//   vote(ballots, opts?)   Consensus: a weighted vote over evaluator verdicts, with a quorum and a
//                          confidence floor; the tally is logged and checkpointed.
//   beamSearch(cfg)        Tree search: best-first expand → score → prune to a beam width, with
//                          backtracking, bounded depth and node count; each step is checkpointed.
// They are built only from public globals (`log`, `checkpoint`, `parallel`), captured here so a
// script that reassigns a global cannot change how they behave.
(function (global) {
  "use strict";
  const log = global.log;
  const checkpoint = global.checkpoint;
  const parallel = global.parallel;
  const FATAL = new Set(["cancelled", "budget_exhausted"]);
  const isFatal = (e) => e && typeof e === "object" && FATAL.has(e.code);
  const describe = (e) => (e && e.message) ? e.message : String(e);
  // The host records a checkpoint synchronously; the promise only carries a failure, which is
  // logged rather than thrown because a report must not break the search or the vote.
  const snapshot = (data, name) => {
    checkpoint(data, name).then(null, (e) => log(name + ": checkpoint failed: " + describe(e), "warn"));
  };
  const pct = (x) => Math.round(x * 100) + "%";
  const show = (v) => typeof v === "string" ? v : JSON.stringify(v);
  const round = (x) => Math.round(x * 1000) / 1000;

  // ---- vote ---------------------------------------------------------------------------------
  // A ballot is `{choice, confidence?}` (also `answer` or `approved` in place of `choice`), or a
  // bare string/number/boolean (confidence 1). `null` (a failed evaluator) abstains.
  function ballotOf(b) {
    if (b === null || b === undefined) return null;
    if (typeof b !== "object") return { choice: b, confidence: 1 };
    const choice = b.choice !== undefined ? b.choice : b.answer !== undefined ? b.answer : b.approved;
    if (choice === undefined || choice === null) return null;
    const c = Number(b.confidence);
    return { choice, confidence: b.confidence === undefined || !isFinite(c) ? 1 : c };
  }
  // Choices that differ only in case, spacing or a final period are the same choice.
  function defaultKey(choice) {
    if (typeof choice === "string") return "s:" + choice.trim().replace(/\s+/g, " ").replace(/\.$/, "").toLowerCase();
    return "j:" + JSON.stringify(choice);
  }

  function vote(ballots, opts) {
    if (!Array.isArray(ballots)) throw new TypeError("vote(ballots, opts?): ballots must be an array");
    const o = opts || {};
    const quorum = o.quorum === undefined ? 0.5 : Number(o.quorum);
    if (!(quorum > 0 && quorum <= 1)) throw new RangeError("vote: quorum is a share of the total weight, in (0, 1]");
    const minConfidence = o.minConfidence === undefined ? 0 : Number(o.minConfidence);
    const weights = o.weights;
    if (weights !== undefined && (!Array.isArray(weights) || weights.length !== ballots.length))
      throw new TypeError("vote: weights must be an array with one weight per ballot");
    const keyOf = typeof o.key === "function" ? o.key : defaultKey;
    const label = o.label || "vote";
    const rows = new Map();
    let total = 0, counted = 0, abstained = 0;
    ballots.forEach((raw, i) => {
      const w = weights ? Number(weights[i]) : 1;
      if (!(w >= 0) || !isFinite(w)) throw new RangeError("vote: weights[" + i + "] must be a non-negative number");
      total += w;
      const b = ballotOf(raw);
      if (b === null || b.confidence < minConfidence) { abstained++; return; }
      counted++;
      const k = keyOf(b.choice);
      const row = rows.get(k) || { choice: b.choice, weight: 0, votes: 0 };
      row.weight += o.byConfidence ? w * b.confidence : w;
      row.votes++;
      rows.set(k, row);
    });
    const tally = Array.from(rows.values())
      .sort((a, b) => b.weight - a.weight)
      .map((r) => ({ choice: r.choice, weight: round(r.weight), votes: r.votes, share: total > 0 ? round(r.weight / total) : 0 }));
    const top = tally[0];
    const tie = tally.length > 1 && tally[1].weight === top.weight;
    const share = top && total > 0 ? top.weight / total : 0;
    const decided = !!top && !tie && share >= quorum;
    const result = {
      decided, winner: decided ? top.choice : null, leader: top && !tie ? top.choice : null, share: round(share),
      tie, quorum, minConfidence, total: round(total), counted, abstained, ballots: ballots.length, tally,
    };
    const parts = tally.map((r) => show(r.choice) + " " + r.weight + " (" + pct(r.share) + ")");
    if (abstained) parts.push(abstained + " abstained");
    log(label + ": " + (parts.join(" · ") || "no ballots") + " → " +
      (decided ? show(top.choice) : tie ? "tie, no decision" : "no decision") + " (quorum " + pct(quorum) + ")");
    snapshot(Object.assign({ vote: label }, result), label);
    return result;
  }

  // ---- beamSearch ---------------------------------------------------------------------------
  function count(v, dflt, name) {
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new RangeError("beamSearch: " + name + " must be a positive integer");
    return n;
  }
  // `score` may return a number or an object with a numeric `score`; anything else prunes the node.
  const scoreValue = (s) => {
    const n = typeof s === "number" ? s : (s && typeof s === "object" && typeof s.score === "number") ? s.score : NaN;
    return isFinite(n) ? n : null;
  };

  async function beamSearch(cfg) {
    const c = cfg || {};
    if (typeof c.expand !== "function") throw new TypeError("beamSearch: expand(node, depth, path) is required");
    if (typeof c.score !== "function") throw new TypeError("beamSearch: score(node, depth, path) is required");
    const width = count(c.width, 3, "width");
    const maxDepth = count(c.depth, 3, "depth");
    const maxNodes = count(c.maxNodes, 50, "maxNodes");
    const minScore = c.minScore === undefined ? -Infinity : Number(c.minScore);
    const label = c.label || "beam";
    let nextId = 0, nodes = 0, expansions = 0, pruned = 0, backtracks = 0;
    const make = (value, depth, parent, score) => ({ id: nextId++, value, depth, parent, score });
    const pathOf = (n) => { const p = []; for (let x = n; x; x = x.parent) p.unshift(x.value); return p; };
    // Best first; among equal scores the older node, so the order never depends on timing.
    const order = (a, b) => (b.score - a.score) || (a.id - b.id);
    const brief = (n) => ({ depth: n.depth, score: n.score });

    const root = make(c.root, 0, null, null);
    let frontier = [root];
    let best = null;
    let last = null;
    let stoppedBy = "exhausted";
    let truncated = false;
    while (frontier.length) {
      if (nodes >= maxNodes) { stoppedBy = "maxNodes"; break; }
      const node = frontier.shift();
      // Best-first leaves the branch it was on when another one now scores higher: a backtrack.
      if (last && node.parent !== last) {
        backtracks++;
        log(label + ": backtrack to depth " + node.depth + " (score " + node.score + ")", "debug");
      }
      last = node;
      const path = pathOf(node);
      let children;
      try { children = await c.expand(node.value, node.depth, path); }
      catch (e) {
        if (isFatal(e)) throw e;
        log(label + ": expanding a node at depth " + node.depth + " failed: " + describe(e), "warn");
        children = [];
      }
      expansions++;
      children = Array.isArray(children) ? children : [];
      if (children.length > maxNodes - nodes) { truncated = true; children = children.slice(0, maxNodes - nodes); }
      nodes += children.length;
      const depth = node.depth + 1;
      const scores = await parallel(children.map((child) => async () => {
        try { return scoreValue(await c.score(child, depth, path.concat([child]))); }
        catch (e) {
          if (isFatal(e)) throw e;
          log(label + ": scoring a node at depth " + depth + " failed: " + describe(e), "warn");
          return null;
        }
      }));
      const kids = [];
      children.forEach((child, i) => {
        if (scores[i] === null || scores[i] < minScore) { pruned++; return; }
        kids.push(make(child, depth, node, scores[i]));
      });
      kids.sort(order);
      if (kids.length && (!best || kids[0].score > best.score)) best = kids[0];
      let hit = null;
      if (typeof c.goal === "function") {
        for (const k of kids) if (await c.goal(k.value, k.score, k.depth)) { hit = k; break; }
      }
      // Nodes at the depth bound are leaves: scored and eligible as the answer, never expanded.
      frontier = frontier.concat(kids.filter((k) => k.depth < maxDepth)).sort(order);
      if (frontier.length > width) { pruned += frontier.length - width; frontier = frontier.slice(0, width); }
      if (hit) { best = hit; stoppedBy = "goal"; }
      snapshot({
        search: label, step: expansions, expanded: brief(node), children: kids.length,
        frontier: frontier.map(brief), frontierSize: frontier.length, width, nodes, maxNodes, pruned,
        best: best ? brief(best) : null, stoppedBy: hit ? "goal" : undefined,
      }, label);
      if (hit) break;
    }
    // An empty frontier after the node bound cut children short is the bound's doing.
    if (stoppedBy === "exhausted" && truncated) stoppedBy = "maxNodes";
    const result = {
      best: best ? { node: best.value, score: best.score, depth: best.depth, path: pathOf(best) } : null,
      stoppedBy, nodes, expansions, pruned, backtracks, width, depth: maxDepth, maxNodes,
    };
    log(label + ": stopped (" + stoppedBy + ") after " + expansions + " expansion(s), " + nodes + " node(s), " +
      backtracks + " backtrack(s); best score " + (best ? best.score : "none"));
    return result;
  }

  const helpers = { vote, beamSearch };
  for (const k of Object.keys(helpers)) {
    Object.defineProperty(global, k, { value: helpers[k], writable: true, configurable: true, enumerable: false });
  }
})(globalThis);
