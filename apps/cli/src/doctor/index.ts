export { type DoctorReport, runDoctor } from './doctor.js';
export type { DoctorCheck, DoctorStatus } from './types.js';
