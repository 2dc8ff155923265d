// Preloaded by the integration test test_idp_node.py (NODE_OPTIONS=--import=THIS) to run the
// test identity providers as Debian 12's own Node (18.20) would: it removes what newer Node
// versions added that the npm packages here might reach for, so that a package update needing
// Node >= 19 fails on the Node 20 of the project's machines too, not only on a bare Debian 12.
// On Node 18 itself it removes nothing (none of these exist there).
import module from 'node:module';
import crypto from 'node:crypto';
import util from 'node:util';

const removed = [];
function hide(owner, name, label) {
  if (owner && Object.prototype.hasOwnProperty.call(owner, name)) {
    delete owner[name];
    removed.push(label);
  }
}

// Globals: WebCrypto as a global (Node 19; 18 has it only with --experimental-global-webcrypto),
// navigator (21).
hide(globalThis, 'crypto', 'globalThis.crypto');
hide(globalThis, 'navigator', 'navigator');
// Static built-ins: URL.parse (22.1, 20.18), Promise.withResolvers (22), Object.groupBy and
// Map.groupBy (21), Array.fromAsync (22). (Prototype methods such as Array.prototype.toSorted
// stay: Node's own modules call them.)
hide(URL, 'parse', 'URL.parse');
hide(Promise, 'withResolvers', 'Promise.withResolvers');
hide(Object, 'groupBy', 'Object.groupBy');
hide(Map, 'groupBy', 'Map.groupBy');
hide(Array, 'fromAsync', 'Array.fromAsync');
// Built-in modules: crypto.hash (21.7, 20.12), util.styleText (21.7, 20.12),
// process.getBuiltinModule (22.3, 20.16). syncBuiltinESMExports carries the removal to
// `import { hash } from 'node:crypto'` as well.
hide(crypto, 'hash', 'crypto.hash');
hide(util, 'styleText', 'util.styleText');
hide(process, 'getBuiltinModule', 'process.getBuiltinModule');
module.syncBuiltinESMExports();

if (process.env.AS_NODE18_VERBOSE) {
  process.stderr.write(`as_node18: removed ${removed.join(', ') || 'nothing'}\n`);
}
