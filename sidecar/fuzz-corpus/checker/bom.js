export const meta = {};
return 1