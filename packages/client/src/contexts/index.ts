export { saveCurrentContext } from './current-context.js';
export { chosenContext, contextAsRemote } from './resolve-context.js';
