async function execute(context){ const xs = await parallel([agent("a"), () => agent(`b ${1}`)]); return xs }
module.exports = {execute}
