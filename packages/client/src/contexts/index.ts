export { saveCurrentContext } from './current-context.js';
export { chosenContext, contextAsRemote, referencedSecret } from './resolve-context.js';
