export { renderAccessTable } from './access-doc.js';
export {
  type Access,
  accessFor,
  accessTable,
  allowedPrincipals,
  deniedProcedures,
  isAllowed,
  type ProcedurePath,
  refusal,
} from './access-table.js';
