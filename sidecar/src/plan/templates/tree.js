// topology: tree
// Tree search: start from the symptom, let an agent propose narrower hypotheses (expand), let
// another rate each one (score), keep only the best `width` open (prune), always expand the best
// open hypothesis next (best-first, which backtracks when a branch stops looking good), within a
// depth and node bound. For root-cause hunts.
// args: task, context, width, depth, maxNodes, branching, accept (score that ends the search).
export const meta = {
  name: "tree-search",
  description: "Hunt for a root cause: expand hypotheses, score them, keep the best few, go deeper, backtrack",
  phases: [{ title: "Search" }, { title: "Conclude" }],
};

const task = args.task ?? "Find the root cause of intermittent request timeouts in the API server";
const background = args.context ?? "";
const width = args.width ?? 3;
const depth = args.depth ?? 3;
const maxNodes = args.maxNodes ?? 24;
const branching = args.branching ?? 3;
const accept = args.accept ?? 0.9;

const trail = (path) => path.slice(1).map((h, i) => `${i + 1}. ${h.hypothesis}`).join("\n") || "(none yet)";

phase("Search");
const search = await beamSearch({
  root: { hypothesis: task, evidence: background },
  width,
  depth,
  maxNodes,
  label: "search",
  // Expand: narrower, testable hypotheses that refine the current one.
  expand: async (node, level, path) => {
    const r = await agent({
      role: "investigator",
      label: `expand d${level}`,
      prompt:
        `Problem: ${task}` + (background ? `\nContext:\n${background}` : "") +
        `\n\nReasoning so far:\n${trail(path)}\n\nPropose ${branching} distinct, more specific hypotheses ` +
        `that would explain the problem if the reasoning so far holds. For each, say what evidence would confirm it.`,
      schema: {
        type: "object",
        properties: {
          hypotheses: {
            type: "array", minItems: 1, maxItems: branching,
            items: { type: "object", properties: { hypothesis: { type: "string" }, evidence: { type: "string" } }, required: ["hypothesis", "evidence"] },
          },
        },
        required: ["hypotheses"],
      },
      maxTokens: 1500,
      temperature: 0.4,
    });
    return r.hypotheses;
  },
  // Score: how likely the hypothesis is the cause, given the problem and the path to it.
  score: async (node, level, path) => {
    const r = await agent({
      role: "judge",
      label: `score d${level}`,
      prompt:
        `Problem: ${task}\n\nReasoning so far:\n${trail(path.slice(0, -1))}\n\nCandidate: ${node.hypothesis}\n` +
        `Evidence that would confirm it: ${node.evidence}\n\nHow likely is this the actual cause (0 to 1)? Be strict.`,
      schema: { score: "number", reason: "string" },
      maxTokens: 400,
      temperature: 0,
    });
    return Math.max(0, Math.min(1, r.score));
  },
  goal: (node, score) => score >= accept,
});

phase("Conclude");
const best = search.best;
const conclusion = await agent({
  role: "reporter",
  label: "conclusion",
  prompt:
    `Problem: ${task}\n\nThe search (${search.expansions} expansions, ${search.nodes} hypotheses, stopped: ` +
    `${search.stoppedBy}) found as most likely:\n${best ? trail(best.path) : "(nothing)"}\n` +
    `Score: ${best ? best.score : "n/a"}\n\nWrite the conclusion: the most likely root cause, the chain of ` +
    `reasoning, how to confirm it, and what to check next if it is wrong.`,
  maxTokens: 1500,
  temperature: 0,
});

return { task, best, stoppedBy: search.stoppedBy, nodes: search.nodes, expansions: search.expansions, conclusion };
