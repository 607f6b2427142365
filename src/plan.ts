// What a target must do for one manifest entry, decided from its own lstat.
// Pure: the catcher (catcher.ts) carries the decisions out.
import { Entry, Kind } from './manifest';

export interface Have {
  kind: 'file' | 'dir' | 'symlink' | 'other';
  size: number;
  mode: number;
  uid: number;
  gid: number;
  mtimeNs: bigint;
  ino: bigint;
  dev: bigint;
  link?: Buffer;
}

export type Decision =
  | { do: 'keep' }                   // identical, metadata included
  | { do: 'meta' }                   // same content, fix mode/owner/times in place
  | { do: 'mkdir'; clear: boolean }  // create a directory (clear: remove what is there first)
  | { do: 'symlink' }                // (re)create the symlink
  | { do: 'empty' }                  // write an empty file
  | { do: 'data' }                   // content must come over the wire
  | { do: 'link' }                   // hardlink to its leader, after the data phase
  | { do: 'conflict'; why: string }; // cannot be done without deleting (see --delete)

export interface PlanOptions { owner: boolean }

function metaSame(e: Entry, h: Have, o: PlanOptions, times: boolean): boolean {
  if (h.mode !== e.mode) return false;
  if (o.owner && (h.uid !== e.uid || h.gid !== e.gid)) return false;
  return !times || h.mtimeNs === e.mtimeNs;
}

export function decide(e: Entry, h: Have | null, o: PlanOptions): Decision {
  switch (e.kind) {
    case Kind.Dir:
      if (!h) return { do: 'mkdir', clear: false };
      if (h.kind !== 'dir') return { do: 'mkdir', clear: true };
      // directory times are set after their contents, always
      return metaSame(e, h, o, false) ? { do: 'keep' } : { do: 'meta' };
    case Kind.Symlink:
      if (h && h.kind === 'dir') return { do: 'conflict', why: 'a directory is in the way' };
      if (h && h.kind === 'symlink' && h.link && e.link && h.link.equals(e.link)) {
        const ownerOk = !o.owner || (h.uid === e.uid && h.gid === e.gid);
        return ownerOk && h.mtimeNs === e.mtimeNs ? { do: 'keep' } : { do: 'meta' };
      }
      return { do: 'symlink' };
    case Kind.Hardlink:
      if (h && h.kind === 'dir') return { do: 'conflict', why: 'a directory is in the way' };
      return { do: 'link' };
    case Kind.File:
      if (h && h.kind === 'dir') return { do: 'conflict', why: 'a directory is in the way' };
      if (h && h.kind === 'file' && h.size === e.size && h.mtimeNs === e.mtimeNs) {
        return metaSame(e, h, o, true) ? { do: 'keep' } : { do: 'meta' };
      }
      return e.size === 0 ? { do: 'empty' } : { do: 'data' };
  }
}
