// What a target must do for one manifest entry, decided from its own lstat.
// Pure: the catcher (catcher.ts) carries the decisions out.
import { Entry, Kind } from '../wire/manifest';

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

export interface PlanOptions {
  owner: boolean;
  /** -c: whether the target's file has the source's content (set only when the sizes agree); size+mtime otherwise */
  sameContent?: boolean;
}

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
      if (h && h.kind === 'file' && h.size === e.size && (o.sameContent ?? h.mtimeNs === e.mtimeNs)) {
        if (metaSame(e, h, o, true)) return { do: 'keep' };
        // Whoever owns the file on the target chose its content (and may hold
        // it open for writing): a local user who plants one with the source's
        // size and mtime (or content) would have it chown'ed to the source's
        // owner, setuid bits and all. Where the owner changes, the file is
        // made afresh instead (a temp file, checked, renamed over it).
        if (o.owner && (h.uid !== e.uid || h.gid !== e.gid)) return e.size === 0 ? { do: 'empty' } : { do: 'data' };
        return { do: 'meta' };
      }
      return e.size === 0 ? { do: 'empty' } : { do: 'data' };
  }
}

/**
 * rsync's --itemize-changes code (YXcstpoguax) for what a decision does to
 * an entry, or null when nothing changes. Directory times count here although
 * decide() leaves them to the end.
 */
export function itemCode(e: Entry, h: Have | null, d: Decision, o: PlanOptions): string | null {
  const x = e.kind === Kind.Dir ? 'd' : e.kind === Kind.Symlink ? 'L' : 'f';
  if (e.kind === Kind.Hardlink) return d.do === 'keep' ? null : 'hf+++++++++';
  const fresh = !h || (h.kind !== (e.kind === Kind.Dir ? 'dir' : e.kind === Kind.Symlink ? 'symlink' : 'file'));
  if (fresh) return `${x === 'f' ? '>' : 'c'}${x}+++++++++`;
  if (e.kind === Kind.Symlink && d.do === 'symlink') return 'cL.........';
  const flags = [
    o.sameContent === false ? 'c' : '.',
    h.size !== e.size && e.kind === Kind.File ? 's' : '.',
    h.mtimeNs !== e.mtimeNs ? 't' : '.',
    h.mode !== e.mode && e.kind !== Kind.Symlink ? 'p' : '.',
    o.owner && h.uid !== e.uid ? 'o' : '.',
    o.owner && h.gid !== e.gid ? 'g' : '.',
  ].join('');
  const y = d.do === 'data' || d.do === 'empty' ? '>' : '.';
  if (y === '.' && flags === '......') return null;
  return `${y}${x}${flags}...`;
}
