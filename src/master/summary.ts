// What a push reports when it ends: per target and in total (operator/
// formats it for people and for the status file), and the figures a progress
// line shows while it runs.
import { LoopStats } from '../native';
import { LocalCounts, PacketCounts, Usage } from '../wire/session';
import { FailureCode } from '../errors';
import { Unreadable } from './scan';

export interface FileFailure { path: string; error: string; code: FailureCode }

export interface TargetReport {
  host: string;
  state: 'OK' | 'FAILED' | 'DROPPED' | 'UNREACHABLE' | 'INTERRUPTED';
  filesSent: number;     // files whose data this target received and committed
  bytesSent: number;
  needed: number;        // files with data this target needed
  missingPages: number;  // pages it asked for again
  local?: LocalCounts;
  failures: FileFailure[];
  error?: string;
  errorCode?: FailureCode;   // why it is not OK, if it is out of the run
  slowest: { path: string; seconds: number } | null;
  rttUs: number[];
  packets: PacketCounts | null; // what the target's catcher dropped (from its result)
  usage: Usage | null;           // its catcher's CPU and peak RSS (from its result)
  feedback: number;              // control datagrams it sent the master
  answersByChannel?: number;     // of them, sent over its channel: none of its UDP reached the master (push.ts answersCheck)
  slow: boolean;                 // was set aside as slow and caught up after the others
  items?: string[];              // -n: what would change, rsync --itemize-changes style
  wouldSend?: { files: number; bytes: number }; // -n
}

export interface Progress {
  phase: string;
  seconds: number;
  bytesTotal: number;
  bytesSent: number;
  filesTotal: number;
  filesDone: number;
  targets: number;
  complete: number;
  behind: number;
  dropped: number;
}

export interface PushReport {
  targets: TargetReport[];
  entries: number;
  files: number;        // data files multicast
  packed?: { files: number; packs: number }; // of which in packs of small files (pack.ts), and the packs
  bytes: number;        // their bytes, once
  pagesSent: number;    // data pages on the wire, first sends
  pagesResent: number;  // plain and parity
  parityPages: number;  // of which parity
  pagesChecked: number; // of which sent at checkpoints, during the first pass of big files
  seconds: number;
  pausedSeconds?: number; // of them, this process did not run (stopped, suspended: Push.resumed)
  skipped: string[];
  changed: string[];    // source files that changed while being sent
  unreadable: Unreadable[]; // source entries that could not be read: not sent (exit 23)
  interrupted: string | null; // the signal that interrupted the push (exit 20)
  stats: LoopStats;
  usage: Usage;         // the master's own CPU (all threads) and peak RSS
  quit: boolean;
  session: string;
  pageSize: number;
  started: number;   // ms since the epoch
  dryRun: boolean;
  segments: number;  // manifest segments multicast
  // bits/s: where it started (cached: the last push's) and each change; probe: the lowest rate the probe train came
  // through at (wire/train.ts), of probed targets' estimates
  rate: { adaptive: boolean; history: number[]; max: number; cached?: boolean; probe?: number; probed?: number };
}
