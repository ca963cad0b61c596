// topology: adversarial
// Adversarial: propose an answer, let independent critics attack it with `verify`, fix what they
// reject, and verify again, until the critics pass it or the rounds run out. For results that
// must be correct.
// args: task, context (text the proposer should use), critics (instructions), rounds, minConfidence.
export const meta = {
  name: "adversarial",
  description: "Propose, let critics attack the proposal, fix and re-verify until it passes or the rounds run out",
  phases: [{ title: "Propose" }, { title: "Verify" }],
};

const task = args.task ?? "Explain how to make a workflow run resumable after a crash, precisely and correctly";
const background = args.context ?? "";
const rounds = args.rounds ?? 3;
const minConfidence = args.minConfidence ?? 0.6;
const critics = (args.critics ?? [
  "You are a fact checker. Reject the proposal if any claim in it is wrong or unsupported.",
  "You are a skeptic. Find the weakest step or the case the proposal does not handle; reject it if that breaks the result.",
  "You check completeness. Reject the proposal if it misses part of the task.",
]).map((prompt, i) => ({ role: `critic-${i + 1}`, label: `critic ${i + 1}`, prompt }));

phase("Propose");
let proposal = await agent({
  role: "proposer",
  label: "proposal",
  prompt: `${task}` + (background ? `\n\nContext:\n${background}` : "") + `\n\nGive your best complete answer.`,
  maxTokens: 3000,
  temperature: 0,
});

phase("Verify");
let round = 0;
let verdict = null;
// Stops as soon as the critics pass the proposal, or after `rounds` verifications.
await loop(
  () => verdict !== null && (verdict.passed || round >= rounds),
  async () => {
    round++;
    verdict = await verify({ target: proposal, critics, mode: "adversarial", minConfidence });
    const objections = verdict.verdicts.filter((v) => v && !v.approved).map((v) => v.critique).filter(Boolean);
    await checkpoint({ phase: "Verify", round, passed: verdict.passed, rejections: verdict.rejections, approvals: verdict.approvals }, `round ${round}`);
    log(`round ${round}/${rounds}: ${verdict.passed ? "passed" : `${verdict.rejections} critic(s) rejected`}`);
    if (!verdict.passed && round < rounds) {
      proposal = await agent({
        role: "fixer",
        label: `fix ${round}`,
        prompt:
          `Task: ${task}\n\nYour previous answer:\n${proposal}\n\nThe critics objected:\n- ${objections.join("\n- ")}\n\n` +
          `Answer again, fixing every valid objection. Give the complete answer.`,
        maxTokens: 3000,
        temperature: 0,
      });
    }
  },
  { maxIterations: rounds + 1 },
);

return { task, answer: proposal, passed: verdict.passed, rounds: round };
