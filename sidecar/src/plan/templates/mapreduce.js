// topology: mapreduce
// MapReduce: split the work into items, run the same check on every item in parallel (bounded),
// then reduce the findings to one report. For "the same check over many items".
// args: task, files (a glob) or items (an array), concurrency, maxItems.
export const meta = {
  name: "mapreduce",
  description: "Run the same check over many items in parallel, then reduce the findings to one report",
  phases: [{ title: "Split" }, { title: "Map" }, { title: "Reduce" }],
};

const task = args.task ?? "Review this file for bugs, risky code and missing error handling";
const files = args.files ?? "**/*.{js,mjs,ts,tsx,jsx,py,rs,go,java,rb,php,cs}";
const concurrency = args.concurrency ?? 8;
const maxItems = args.maxItems ?? 200;

phase("Split");
// Items come from `args.items` when given, else from the files the glob matches.
const fromFiles = !Array.isArray(args.items);
const all = fromFiles ? await context.tools.glob(files) : args.items;
const items = all.slice(0, maxItems);
log(`${items.length} item(s) to map` + (all.length > items.length ? ` (${all.length - items.length} over maxItems left out)` : ""));
if (items.length === 0) {
  return { task, items: 0, report: "Nothing to do: no items matched." };
}

phase("Map");
const FINDINGS = { findings: [{ title: "string", detail: "string", severity: "string" }], summary: "string" };
const mapped = await parallel(
  items.map((item) => async () => {
    const name = typeof item === "string" ? item : JSON.stringify(item);
    const body = fromFiles ? await context.tools.read_file(item) : name;
    const result = await agent({
      role: "mapper",
      label: name.slice(0, 60),
      prompt:
        `${task}\n\n` +
        (fromFiles ? `File ${item}:\n\n${compact(body, { maxChars: 24000 })}` : `Item:\n${body}`) +
        `\n\nReport each finding with a short title, the detail (where and why), and a severity ` +
        `(high, medium or low). An empty list is a good answer when there is nothing to report.`,
      schema: FINDINGS,
      maxTokens: 1500,
      temperature: 0,
    });
    return { item: name, findings: result.findings, summary: result.summary };
  }),
  { maxConcurrency: concurrency },
);
const done = mapped.filter(Boolean);
const withFindings = done.filter((m) => m.findings.length > 0);
await checkpoint({ phase: "Map", items: items.length, succeeded: done.length, failed: items.length - done.length, withFindings: withFindings.length });

phase("Reduce");
const report = await agent({
  role: "reducer",
  label: "report",
  prompt:
    `Task: ${task}\n\nWrite one report from the per-item findings below: a one-paragraph summary, ` +
    `then the findings grouped by severity (high first), each naming its item. Merge duplicates.\n\n` +
    JSON.stringify(compact(withFindings, { maxChars: 60000 })),
  maxTokens: 3000,
  temperature: 0,
});

return { task, items: items.length, failed: items.length - done.length, report };
