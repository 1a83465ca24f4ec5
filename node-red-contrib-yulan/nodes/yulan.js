// Node-RED loads nodes with require(); the implementation is compiled TypeScript (src/ → dist/).
module.exports = require('../dist/index.js');
