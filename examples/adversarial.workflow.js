// Adversarial: propose, let critics attack it, fix what they reject, and verify again, for a
// bounded number of rounds.
async function execute(context) {
  const question = context.args().question || "Why does a resumed workflow need deterministic Date.now()?";

  phase("Propose");
  let answer = await agent({ role: "proposer", prompt: `Answer precisely in 3 sentences: ${question}`, maxTokens: 200, temperature: 0 });

  phase("Verify");
  let round = 0;
  let verdict = null;
  await loop(
    () => verdict !== null && (verdict.passed || round >= 2),
    async () => {
      round++;
      verdict = await verify({
        target: answer,
        mode: "adversarial",
        critics: [
          { role: "fact-checker", prompt: "Check this answer for factual errors." },
          { role: "skeptic", prompt: "Find the weakest claim in this answer." },
        ],
        minConfidence: 0.5,
      });
      log(`round ${round}: ${verdict.rejections} rejection(s)`);
      if (!verdict.passed) {
        const critiques = verdict.verdicts.filter((v) => v && !v.approved).map((v) => v.critique).join("\n");
        answer = await agent({ role: "fixer", prompt: `Improve this answer:\n${answer}\n\nCritiques:\n${critiques}`, maxTokens: 200, temperature: 0 });
      }
      return verdict;
    },
    { maxIterations: 3 },
  );

  return { answer, rounds: round, passed: verdict.passed };
}

module.exports = { execute };
