// MapReduce: the same check over many files, then one report.
// Run from this folder so the tools see ./src:  odw run audit.workflow.js --cwd examples/audit
async function execute(context) {
  phase("Scan");
  const files = await context.tools.glob("src/**/*.js");
  log(`auditing ${files.length} file(s)`);

  phase("Audit");
  const findings = await parallel(
    files.map((file) => async () => {
      const code = await context.tools.read_file(file);
      const result = await agent({
        role: "auditor",
        label: file,
        prompt:
          `You review request handlers for missing authentication checks.\n` +
          `File ${file}:\n\n${code}\n\n` +
          `List every handler that reads or changes user data without checking the caller.`,
        schema: { findings: [{ handler: "string", problem: "string" }] },
        maxTokens: 300,
        temperature: 0,
      });
      return { file, findings: result.findings };
    }),
    { maxConcurrency: 8 },
  );

  const found = findings.filter(Boolean);
  await checkpoint({ phase: "Audit", files: found.length });

  phase("Report");
  return agent({
    role: "writer",
    label: "report",
    prompt:
      "Write a short audit report (a title, then one bullet per problem with its file) from these findings:\n" +
      JSON.stringify(compact(found, { maxChars: 6000 })),
    maxTokens: 400,
    temperature: 0,
  });
}

module.exports = { execute };
