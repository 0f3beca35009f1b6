// The error class every usertrail failure is thrown as. Imported by the wasm
// bindings and re-exported by the package (pkg/index.js), so `instanceof`
// works for callers.
export class UserTrailError extends Error {
  constructor(code, message, field) {
    super(message);
    this.name = 'UserTrailError';
    this.code = code;
    if (field !== undefined) this.field = field;
  }
}
