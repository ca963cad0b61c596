// The smallest workflow: one agent. Run it with `odw run examples/hello.workflow.js`.
export const meta = {
  name: "hello",
  description: "One agent says hello",
};

const who = args.name || "a developer who lives in their editor";
return await agent(`Write one short, friendly sentence greeting ${who}.`, {
  label: "greeter",
  maxTokens: 60,
  temperature: 0,
});
