export const meta = {name:"x"};
const a = `${`${[{(}])}`}`;
return /[(]/.test(a) ? await agent("x", {schema: {a: "string"}}) : 1;
