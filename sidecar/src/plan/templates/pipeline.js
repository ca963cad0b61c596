// topology: pipeline
// Pipeline: every item flows through the stages on its own, with no barrier between stages, so a
// fast item is reviewed while a slow one is still being changed. For "migrate → test → fix".
// args: task, files (a glob) or items (an array), stages ([{name, instruction}]), concurrency, maxItems.
export const meta = {
  name: "pipeline",
  description: "Send each item through a chain of stages (change, check, fix) without waiting for the others",
  phases: [{ title: "Collect" }, { title: "Stages" }, { title: "Summary" }],
};

const task = args.task ?? "Modernise this file: clearer names, no dead code, same behaviour";
const files = args.files ?? "**/*.{js,mjs,ts,tsx,jsx,py,rs,go,java,rb,php,cs}";
const concurrency = args.concurrency ?? 4;
const maxItems = args.maxItems ?? 100;
const stages = args.stages ?? [
  { name: "change", instruction: "Make the change. Reply with the complete new version only." },
  { name: "check", instruction: "Check the new version against the task: list every problem (behaviour changes, bugs, anything missed), or say LGTM." },
  { name: "fix", instruction: "Apply the check's corrections to the new version. Reply with the final version only." },
];

phase("Collect");
const fromFiles = !Array.isArray(args.items);
const items = (fromFiles ? await context.tools.glob(files) : args.items).slice(0, maxItems);
log(`${items.length} item(s), ${stages.length} stage(s): ${stages.map((s) => s.name).join(" → ")}`);
if (items.length === 0) {
  return { task, items: 0, results: [] };
}

phase("Stages");
const nameOf = (item) => (typeof item === "string" ? item : JSON.stringify(item)).slice(0, 60);
// Stage k sees the task, the item's original input and the previous stage's output.
const steps = stages.map((stage, k) => async (prev, item) => {
  const input = k === 0 ? prev : prev.input;
  const output = await agent({
    role: stage.name,
    label: `${stage.name} ${nameOf(item)}`,
    prompt:
      `Task: ${task}\nStage ${k + 1}/${stages.length} (${stage.name}): ${stage.instruction}\n\n` +
      `Input (${nameOf(item)}):\n${compact(input, { maxChars: 24000 })}` +
      (k === 0 ? "" : `\n\nOutput of the previous stage (${stages[k - 1].name}):\n${compact(prev.output, { maxChars: 24000 })}`),
    maxTokens: 4000,
    temperature: 0,
  });
  return { input, output };
});
const load = async (item) => (fromFiles ? await context.tools.read_file(item) : nameOf(item));
const results = await pipeline(items, [load, ...steps], { maxConcurrency: concurrency });
const finished = items.map((item, i) => ({ item: nameOf(item), output: results[i] ? results[i].output : null }));
await checkpoint({ phase: "Stages", items: items.length, finished: finished.filter((r) => r.output !== null).length });

phase("Summary");
const summary = await agent({
  role: "reporter",
  label: "summary",
  prompt:
    `Task: ${task}\n\nSummarise what the pipeline produced for each item (one line each) and list the ` +
    `items that failed (output null):\n\n` + JSON.stringify(compact(finished, { maxChars: 40000 })),
  maxTokens: 1500,
  temperature: 0,
});

return { task, items: items.length, results: finished, summary };
