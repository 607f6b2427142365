// Failures that scale: with hundreds of targets, the same cause (ssh cannot
// reach them, their firewall drops the group) fails many at once. The report
// groups the targets that are not OK by cause, with a count, the hosts and
// what to check; the status file keeps every target.
import { TargetReport } from '../master/summary';

/** Above this many targets the report lists only the targets not OK, grouped; the status file has them all. */
export const MANY_TARGETS = 20;
/** Hosts named per group (then "and N more"). */
const HOSTS_SHOWN = 8;

export interface FailureGroup { state: TargetReport['state']; code: string; why: string; hint: string | null; hosts: string[] }

/**
 * What to check for a target out of the run, by its failure code and text
 * (the remote shell's exit status says which part failed); null when the
 * text says it all.
 */
export function failureHint(code: string | undefined, error = ''): string | null {
  switch (code) {
    case 'UNREACHABLE': {
      if (/the remote shell said nothing/.test(error)) {
        return 'the remote shell waits on a prompt (a password, a key\'s passphrase, a new host key: ssh asks on the terminal, ' +
          'not through mrsync) or its login takes longer than -w: check that "ssh HOST true" works as root and asks nothing';
      }
      if (/the daemon said nothing/.test(error)) return 'the daemon took the connection but started no session: see its log there';
      const exit = /\(exit (\d+)\)/.exec(error)?.[1];
      if (exit === '127' && /node \(Node\.js 20 or newer\) is not on the PATH/.test(error)) {
        return 'multicatcher is there, node is not on the PATH the remote shell\'s login gets (ssh HOST command reads no shell startup file: ' +
          'nvm\'s setup, .bashrc): install Node.js 20+ system-wide there, or link node into a directory of that PATH';
      }
      if (exit === '127') return 'multicatcher was not found there: install it at the same path as here, or name it with --remote-path';
      if (/needs Node\.js \d+ or newer/.test(error)) return 'upgrade Node.js there (mrsync --install checks every target\'s before it installs)';
      if (exit === '255') return 'the remote shell could not log in: check that "ssh HOST true" works as root and asks nothing (a key, not a password; the host\'s key known: ssh-keyscan HOST)';
      if (exit === '0') return 'the remote shell ran but no catcher answered: check -r and --remote-path';
      return 'run the remote shell (-r) by hand: RSH HOST multicatcher --version';
    }
    case 'REFUSED': return /version|protocol/i.test(error) ? 'compare "multicatcher --version" there with "mrsync --version" here' : null;
    case 'SILENT':
      if (/ after it had answered$/.test(error)) {
        return 'it answered, then stopped: that machine (hung, overloaded, out of memory: the OOM killer?), its catcher (stopped, ' +
          'stuck on its disk), or the link to it';
      }
      if (/not ready within/.test(error)) return 'the catcher is stuck starting: the destination\'s file system there (a hung mount?), or that machine\'s load';
      {
        const port = /none of its answers reached UDP port (\d+) here/.exec(error)?.[1];
        if (port) return `open UDP port ${port} in this machine's firewall (firewalld, nftables, iptables: the master's answer port, -P minus 1), or the target's firewall drops what it sends`;
      }
      if (/none of the multicast reached it \(it reaches this machine through a router/.test(error)) {
        return 'multicast crosses routers only with -T above their number and multicast routing (PIM) on them: ' +
          'push from a master on the targets\' subnet (one per subnet), or have the routers route the group';
      }
      if (/none of the multicast reached it/.test(error)) {
        return 'the group\'s datagrams do not reach it: its firewall (UDP port -P), IGMP snooping without a querier on the switch, ' +
          'the interface (-I here; there, the one facing this machine); see docs/operating.md';
      }
      return 'datagrams do not get through: the firewall (UDP port -P on the targets, -P minus 1 on the master), ' +
      'IGMP snooping without a querier on the switch, the interface (-I); see docs/operating.md';
    case 'EXITED': return 'the catcher ended early: its stderr (above), memory and disk on that target';
    default: return null;
  }
}

/** One host out of the run (a push's target, an --install's), to be grouped by cause. */
export interface Failed { host: string; state: FailureGroup['state']; code: string; text: string; hint: string | null }

/**
 * Hosts grouped by state, code and cause (its text with what differs from
 * host to host taken out: the host's name, addresses), the largest groups
 * first.
 */
export function groupFailed(items: Failed[]): FailureGroup[] {
  const groups = new Map<string, FailureGroup>();
  for (const f of items) {
    const why = f.text.split(f.host).join('HOST').replace(/\b\d{1,3}(\.\d{1,3}){3}\b/g, 'ADDR');
    const key = `${f.state}\0${f.code}\0${why}`;
    let g = groups.get(key);
    if (!g) groups.set(key, g = { state: f.state, code: f.code, why, hint: f.hint, hosts: [] });
    g.hosts.push(f.host);
  }
  return [...groups.values()].sort((a, b) => b.hosts.length - a.hosts.length);
}

/** The targets not OK, grouped by state, code and cause, the largest groups first. */
export function failureGroups(targets: TargetReport[]): FailureGroup[] {
  return groupFailed(targets.filter((t) => t.state !== 'OK').map((t) => ({
    host: t.host, state: t.state, code: t.errorCode ?? t.failures[0]?.code ?? t.state, hint: failureHint(t.errorCode, t.error),
    text: t.error ?? (t.failures.length ? `${t.failures.length === 1 ? 'an entry' : 'entries'} not delivered (${t.failures[0].code}: ${t.failures[0].error})` : t.state),
  })));
}

/** The report's lines for the groups: a count, the cause, what to check, the first hosts. */
export function groupLines(groups: FailureGroup[]): string[] {
  const lines: string[] = [];
  for (const g of groups) {
    lines.push(`  ${g.hosts.length} ${g.state}${g.code === g.state ? '' : ` (${g.code})`}: ${g.why}`);
    if (g.hint) lines.push(`      check: ${g.hint}`);
    const more = g.hosts.length - HOSTS_SHOWN;
    lines.push(`      ${g.hosts.slice(0, HOSTS_SHOWN).join(', ')}${more > 0 ? ` and ${more} more` : ''}`);
  }
  return lines;
}
