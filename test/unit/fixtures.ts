// Fabricated reports for the operator's tests (report, status file): no push runs.
import { PushReport, TargetReport } from '../../src/master/summary';

export function target(host: string, state: TargetReport['state'], extra: Partial<TargetReport> = {}): TargetReport {
  return {
    host, state, filesSent: 1, bytesSent: 10, needed: 1, missingPages: 0, failures: [], slowest: null, rttUs: [],
    packets: null, usage: null, feedback: 2, slow: false, ...extra,
  };
}

export function report(targets: TargetReport[], extra: Partial<PushReport> = {}): PushReport {
  return {
    targets, entries: 2, files: 1, bytes: 10, pagesSent: 1, pagesResent: 0, parityPages: 0, pagesChecked: 0, seconds: 1,
    skipped: [], changed: [], unreadable: [], interrupted: null, quit: false, session: '00000001', pageSize: 1449, started: 0, dryRun: false, segments: 1,
    stats: {
      pktsSent: 0, bytesSent: 0, dataSent: 0, ctlSent: 0, sendErrors: 0, pktsRecv: 0, dataExpected: 0, dataRecv: 0, dataNew: 0,
      dataDup: 0, dataStray: 0, badAuth: 0, ownEcho: 0, badFormat: 0, ctlRecv: 0, recvBatches: 0, paritySent: 0, parityRecv: 0,
      fecRecovered: 0, lateNs: 0, idleNs: 0, dataWire: 0,
    },
    usage: { cpuUser: 0, cpuSystem: 0, maxRssKiB: 0 }, rate: { adaptive: false, history: [1e8], max: 1e8 },
    ...extra,
  };
}
