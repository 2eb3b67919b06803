export { probeGateway } from './probe.js';
export {
  CANNOT_CONNECT,
  type ProbeDiagnosis,
  type ProbeOptions,
  type ProbeReport,
  type ProbeStep,
  type ProbeStepName,
  type ProbeVerdict,
} from './types.js';
