// `import wasm from 'usertrail/usertrail_bg.wasm'`: the engine's compiled
// module, as hosts that import wasm as modules (Cloudflare Workers) give it,
// for `init(wasm)`.
import type { WasmModule } from './index.js';

declare const wasm: WasmModule;
export default wasm;
