export { BudgetedLine } from './budgeted-line.js';
export { MAX_TAIL_BYTES, readLogFileTail } from './log-file-tail.js';
export { LogRing } from './log-ring.js';
export { createLogger, type Logger, type LoggerOptions } from './logger.js';
export { ThrottledLine } from './throttled-line.js';
