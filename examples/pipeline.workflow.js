// Pipeline: each item flows through the stages on its own, with no barrier between stages, so
// fast items finish while slow ones are still drafting.
export const meta = {
  name: "release-notes",
  description: "Draft, tighten and title one release note per change",
  phases: [{ title: "Notes" }],
};

const changes = args.changes || [
  "Resume replays finished agent calls from the journal",
  "Budgets reserve the worst case before each request",
  "The language server streams progress to any editor",
];

phase("Notes");
const notes = await pipeline(
  changes,
  (change) => agent(`Draft a one-sentence release note for: ${change}`, { label: "draft", maxTokens: 80, temperature: 0 }),
  (draft) => agent(`Tighten this release note to at most 20 words:\n${draft}`, { label: "tighten", maxTokens: 60, temperature: 0 }),
  (note, change) => agent(`Give a title of at most 5 words for this change: ${change}`, { label: "title", maxTokens: 20, temperature: 0 })
    .then((title) => `- **${title.trim()}**: ${note.trim()}`),
);

return notes.filter(Boolean).join("\n");
