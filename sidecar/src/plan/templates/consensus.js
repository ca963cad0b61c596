// topology: consensus
// Consensus: several independent evaluators, each from its own perspective, answer the same
// question with a confidence; a weighted vote with a quorum and a confidence floor decides. For
// judgement calls and uncertain facts.
// args: task, options (the allowed answers), context, evaluators ([{perspective, weight}]),
//       quorum, minConfidence.
export const meta = {
  name: "consensus",
  description: "Ask independent evaluators, then decide by a weighted vote with a quorum and a confidence floor",
  phases: [{ title: "Evaluate" }, { title: "Vote" }, { title: "Report" }],
};

const task = args.task ?? "Should this project adopt a monorepo layout?";
const options = args.options ?? ["yes", "no"];
const background = args.context ?? "";
const quorum = args.quorum ?? 0.5;
const minConfidence = args.minConfidence ?? 0.5;
const evaluators = args.evaluators ?? [
  { perspective: "a pragmatic senior engineer who weighs cost against benefit", weight: 2 },
  { perspective: "a skeptic who looks for the strongest reason against", weight: 1 },
  { perspective: "a domain expert who checks the facts", weight: 2 },
  { perspective: "a maintainer who will live with the consequences for years", weight: 1 },
  { perspective: "a newcomer who needs it to be simple", weight: 1 },
];

phase("Evaluate");
// With fixed options the answer is an enum, so equal answers are counted together.
const BALLOT = {
  type: "object",
  properties: {
    choice: options.length ? { type: "string", enum: options } : { type: "string" },
    confidence: { type: "number", minimum: 0, maximum: 1 },
    reasoning: { type: "string" },
  },
  required: ["choice", "confidence", "reasoning"],
};
const ballots = await parallel(
  evaluators.map((e, i) => () => agent({
    role: "evaluator",
    label: `evaluator ${i + 1}`,
    prompt:
      `You are ${e.perspective}. Decide independently.\n\nQuestion: ${task}` +
      (background ? `\n\nContext:\n${background}` : "") +
      (options.length ? `\n\nAnswer with one of: ${options.join(", ")}.` : "") +
      `\nGive your confidence (0 to 1) and your reasoning in a few sentences.`,
    schema: BALLOT,
    maxTokens: 800,
    temperature: 0.3,
  })),
);

phase("Vote");
const result = vote(ballots, { weights: evaluators.map((e) => e.weight ?? 1), quorum, minConfidence, label: "vote" });

phase("Report");
const reasons = ballots.map((b, i) => b && { perspective: evaluators[i].perspective, choice: b.choice, confidence: b.confidence, reasoning: b.reasoning });
const report = await agent({
  role: "reporter",
  label: "report",
  prompt:
    `Question: ${task}\n\nThe panel ${result.decided ? `decided: ${result.winner}` : "reached no decision"} ` +
    `(tally: ${JSON.stringify(result.tally)}). Write a short answer that states the outcome, the strongest ` +
    `reasons for it, and the dissent worth knowing.\n\nBallots:\n${JSON.stringify(reasons.filter(Boolean))}`,
  maxTokens: 1200,
  temperature: 0,
});

return { task, decided: result.decided, decision: result.winner, tally: result.tally, abstained: result.abstained, report };
