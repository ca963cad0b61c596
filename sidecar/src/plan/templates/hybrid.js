// topology: hybrid
// Hybrid: phases composed of the other topologies. Survey is a MapReduce over the files, Work is a
// Pipeline over what the survey found (draft → self-review), Verify is Adversarial (critics via
// `verify` drop the changes a quorum rejects, rejected ones are reworked for a bounded number of
// rounds), and Report reduces it all. For real features and changes with several stages.
// args: task, files (a glob), concurrency, maxItems, maxChanges, rounds.
export const meta = {
  name: "hybrid",
  description: "Survey the code (map-reduce), work each finding through stages (pipeline), verify with critics (adversarial), report",
  phases: [{ title: "Survey" }, { title: "Work" }, { title: "Verify" }, { title: "Report" }],
};

const task = args.task ?? "Find places where errors are swallowed silently and propose a fix for each";
const files = args.files ?? "**/*.{js,mjs,ts,tsx,jsx,py,rs,go,java,rb,php,cs}";
const concurrency = args.concurrency ?? 8;
const maxItems = args.maxItems ?? 100;
const maxChanges = args.maxChanges ?? 20;
const rounds = args.rounds ?? 2;

phase("Survey");
const paths = (await context.tools.glob(files)).slice(0, maxItems);
const surveyed = await parallel(
  paths.map((file) => async () => {
    const code = await context.tools.read_file(file);
    const r = await agent({
      role: "surveyor",
      label: file,
      prompt: `Task: ${task}\n\nFile ${file}:\n\n${compact(code, { maxChars: 24000 })}\n\nList the places in this file the task applies to (an empty list if none).`,
      schema: { places: [{ where: "string", what: "string" }] },
      maxTokens: 1200,
      temperature: 0,
    });
    return r.places.map((p) => ({ file, where: p.where, what: p.what }));
  }),
  { maxConcurrency: concurrency },
);
const places = surveyed.filter(Boolean).flat().slice(0, maxChanges);
await checkpoint({ phase: "Survey", files: paths.length, places: places.length });
if (places.length === 0) {
  return { task, files: paths.length, changes: [], report: "The survey found nothing the task applies to." };
}

phase("Work");
const describe = (p) => `${p.file} (${p.where}): ${p.what}`;
const work = (list) => pipeline(list, [
  (p) => agent({
    role: "implementer", label: `draft ${p.file}`,
    prompt: `Task: ${task}\n\nPlace: ${describe(p)}` + (p.objection ? `\n\nA reviewer rejected the previous change: ${p.objection}` : "") +
      `\n\nPropose the change as a unified diff with a one-line rationale.`,
    maxTokens: 2000, temperature: 0,
  }),
  (draft, p) => agent({
    role: "self-reviewer", label: `review ${p.file}`,
    prompt: `Task: ${task}\n\nPlace: ${describe(p)}\n\nProposed change:\n${draft}\n\nFix any mistake in the change and reply with the corrected diff and rationale only.`,
    maxTokens: 2000, temperature: 0,
  }).then((change) => ({ ...p, change })),
], { maxConcurrency: concurrency });
let changes = (await work(places)).filter(Boolean);

phase("Verify");
const critics = [
  { role: "correctness-critic", prompt: "Reject the changes (by index) that are wrong, break behaviour or do not compile." },
  { role: "scope-critic", prompt: "Reject the changes (by index) that do not serve the task or change more than needed." },
  { role: "risk-critic", prompt: "Reject the changes (by index) that are risky without a test or a clear rationale." },
];
let accepted = [];
let round = 0;
await loop(
  () => changes.length === 0 || round >= rounds,
  async () => {
    round++;
    const v = await verify({ target: changes, critics, mode: "adversarial", minConfidence: 0.6 });
    accepted = accepted.concat(v.kept);
    await checkpoint({ phase: "Verify", round, checked: changes.length, kept: v.kept.length, rejected: v.rejected.length });
    const objection = v.verdicts.filter((x) => x && !x.approved).map((x) => x.critique).join(" / ");
    // Rejected changes get one more pass through the pipeline, with the critics' objection.
    changes = round < rounds && v.rejected.length ? (await work(v.rejected.map((c) => ({ file: c.file, where: c.where, what: c.what, objection })))).filter(Boolean) : [];
  },
  { maxIterations: rounds + 1 },
);

phase("Report");
const report = await agent({
  role: "reporter", label: "report",
  prompt: `Task: ${task}\n\nAccepted changes (${accepted.length} of ${places.length} places):\n` +
    JSON.stringify(compact(accepted, { maxChars: 60000 })) + `\n\nWrite the summary a reviewer reads first: what changed where, and what is left.`,
  maxTokens: 2000, temperature: 0,
});

return { task, files: paths.length, places: places.length, accepted: accepted.length, rounds: round, changes: accepted, report };
