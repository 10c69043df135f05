import { BFD_NOT_RUNNING, BFD_PATH } from '../gate/loxilb-api';
import { errorCodeOf } from '../aws/errors';
import { flagMismatches } from '../gate/loxilb-flags';
import { CheckResult, CheckDeps, messageOf } from './common';

/** The host's own set-up: loxilb's flags against the config, the state dirs, the loxilb API. */

/** loxilb's own flags against the config: a config that overrides one looks for the wrong resources. */
export function checkLoxilbFlags(deps: Pick<CheckDeps, 'config' | 'loxilb'>): CheckResult[] {
  const { config, loxilb } = deps;
  const check = 'loxilb-flags';
  if (!config.loxilbFlags.enabled) {
    return [{ status: 'OK', check, what: 'loxilbFlags.enabled is false: loxilb flags are not read' }];
  }
  if (!loxilb) {
    return [
      {
        status: 'WARN',
        check,
        what: `no loxilb process under ${config.loxilbFlags.procRoot}: its --cloudcidrblock/--cloudinstance/--ka cannot be compared with the config`,
        fix: 'start loxilb first; if it runs but is not seen, the unit must not hide other users’ processes (ProtectProc=default)',
      },
    ];
  }
  const out: CheckResult[] = [];
  const flags = `--cloud=${loxilb.cloud ?? '(default on-prem)'} --cloudcidrblock=${loxilb.cloudCidrBlock ?? '(unset)'} --cloudinstance=${loxilb.cloudInstance ?? '(unset)'} --ka=${loxilb.ka ?? '(unset)'}`;
  const mismatches = flagMismatches(config, loxilb);
  for (const m of mismatches) {
    out.push({
      status: m.field === 'gate.static.bfd' ? 'WARN' : 'FAIL',
      check,
      what: `config ${m.field} is ${JSON.stringify(m.config)} but loxilb (pid ${loxilb.pid}) runs with ${m.flag}=${m.flagValue}`,
      fix: `remove ${m.field} from the config (loxilb's flag is the default) or make it match`,
    });
  }
  if (loxilb.cloud !== 'aws') {
    out.push({
      status: 'WARN',
      check,
      what: `loxilb (pid ${loxilb.pid}) runs without --cloud=aws: it creates nothing on AWS for teardownd to remove`,
      fix: 'run loxilb with --cloud=aws --cloudcidrblock=<CIDR> (loxilbdocs: aws-multi-az)',
    });
  }
  if (!mismatches.length) {
    out.push({
      status: 'OK',
      check,
      what: `loxilb (pid ${loxilb.pid}) runs with ${flags}; the config agrees`,
    });
  }
  return out;
}

export async function checkStateDirs(deps: CheckDeps): Promise<CheckResult> {
  const dirs = [deps.config.stateDir, deps.config.reports.dir];
  const missing: string[] = [];
  const readOnly: string[] = [];
  const notDirs: string[] = [];
  for (const dir of dirs) {
    try {
      await deps.checkWritable(dir);
    } catch (err) {
      const code = errorCodeOf(err);
      (code === 'ENOENT' ? missing : code === 'ENOTDIR' ? notDirs : readOnly).push(`${dir} (${code})`);
    }
  }
  // `run` refuses a state dir that is not a directory (exit 2): check says so too.
  if (notDirs.length)
    return {
      status: 'FAIL',
      check: 'state-dirs',
      what: `not a directory: ${notDirs.join(', ')}`,
      fix: 'point stateDir / reports.dir at a directory (default /var/lib/teardownd and its reports/)',
    };
  if (!missing.length && !readOnly.length)
    return { status: 'OK', check: 'state-dirs', what: `${dirs.join(' and ')} writable` };
  const what = [
    missing.length ? `missing: ${missing.join(', ')}` : '',
    readOnly.length ? `not writable by this user: ${readOnly.join(', ')}` : '',
  ]
    .filter(Boolean)
    .join('; ');
  return {
    status: 'WARN',
    check: 'state-dirs',
    what: `state/report directories ${what}`,
    fix: 'scripts/install.sh creates both (owned by teardownd, the user the service runs as); not writable is fine when you ran check as another user',
  };
}

/** `; BFD …` as the gate will read it (HTTP 500 "bfd session not running" = BFD off), or ''. */
export async function bfdSummary(deps: CheckDeps, baseUrl: string, timeoutMs: number): Promise<string> {
  try {
    const res = await deps.httpGet(`${baseUrl.replace(/\/+$/, '')}${BFD_PATH}`, timeoutMs);
    if (BFD_NOT_RUNNING.test(res.body))
      return '; BFD off (kube-loxilb --setRoles): the gate reads the cluster from Auto Scaling';
    if (res.status !== 200) return '';
    const body = JSON.parse(res.body) as { Attr?: Array<{ remoteIp?: string; state?: string }> | null };
    const sessions = (body.Attr ?? []).map((b) => `${b.remoteIp ?? '?'} ${b.state ?? '?'}`);
    return `; BFD ${sessions.length ? `sessions: ${sessions.join(', ')}` : 'running, no sessions'}`;
  } catch {
    return '';
  }
}

export async function checkLoxilbApi(deps: CheckDeps): Promise<CheckResult> {
  const gate = deps.config.gate;
  if (gate.mode !== 'loxilb-api') {
    const scope =
      gate.mode === 'override' ? `scope ${gate.override}` : `static ${JSON.stringify(gate.static)}`;
    return {
      status: 'OK',
      check: 'loxilb-api',
      what: `gate.mode is ${gate.mode} (${scope}); loxilb's API is not consulted`,
    };
  }
  const url = `${gate.loxilbApiUrl.replace(/\/+$/, '')}/netlox/v1/config/cistate/all`;
  try {
    const res = await deps.httpGet(url, gate.apiTimeoutMs);
    if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
    let state = '';
    try {
      const body = JSON.parse(res.body) as { Attr?: Array<{ instance?: string; state?: string }> };
      const inst0 = body.Attr?.find((a) => a.instance === 'llb-inst0');
      if (inst0?.state) state = `; llb-inst0 is ${inst0.state}`;
    } catch {
      /* reachable is what matters here */
    }
    return {
      status: 'OK',
      check: 'loxilb-api',
      what: `loxilb API reachable at ${url}${state}${await bfdSummary(deps, gate.loxilbApiUrl, gate.apiTimeoutMs)}`,
    };
  } catch (err) {
    return {
      status: 'WARN',
      check: 'loxilb-api',
      what: `loxilb API unreachable at ${url}: ${messageOf(err)}`,
      fix: 'the gate reads HA role and BFD state from this API; without it (and without a recent observation) it decides handover and changes nothing: start loxilb, fix gate.loxilbApiUrl, or use gate.mode "static"',
      errorCode: errorCodeOf(err),
    };
  }
}
