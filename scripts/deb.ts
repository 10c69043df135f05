/**
 * Builds the Debian package from the single executable (scripts/package.ts calls it):
 *
 *   /usr/bin/teardownd                         the executable (Node 22 runtime + bundle)
 *   /lib/systemd/system/teardownd.service      systemd/teardownd.service as it is in the repo
 *   /etc/teardownd/config.example.json         a conffile: dpkg never overwrites an edited one; the
 *                                              unit starts only once the operator's config.json exists
 *   /usr/share/doc/teardownd/{copyright,changelog.gz}, /usr/share/man/man8/teardownd.8.gz,
 *   /usr/share/lintian/overrides/teardownd     why the embedded Node runtime is what it is
 *   DEBIAN/{control,conffiles,md5sums,postinst,prerm,postrm}   scripts from scripts/deb/
 *
 * Files are root-owned in the archive (`dpkg-deb --root-owner-group`), whoever builds it.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { gzipSync } from 'node:zlib';

export interface DebInput {
  binary: string;
  output: string;
  version: string;
  repo: string;
}

const MAINTAINER = 'teardownd maintainers <teardownd@example.org>';

function control(version: string, installedKb: number): string {
  return [
    'Package: teardownd',
    `Version: ${version}`,
    'Architecture: amd64',
    `Maintainer: ${MAINTAINER}`,
    `Installed-Size: ${installedKb}`,
    // adduser makes the system user in postinst; libc is all the Node runtime links against.
    'Depends: adduser, libc6 (>= 2.28)',
    'Section: admin',
    'Priority: optional',
    'Description: tears down loxilb AWS resources before an EC2 host terminates',
    ' teardownd runs on EC2 hosts that run the loxilb load balancer. On a spot',
    ' interruption, an Auto Scaling scale-in or a scheduled retirement it decides',
    " from loxilb's HA state what this host must clean up, removes the Elastic IP",
    ' associations, the loxilb ENI, subnet, route table and VPC secondary CIDR in',
    ' dependency order, completes the lifecycle action and leaves a report.',
    '',
  ].join('\n');
}

function changelog(version: string): string {
  return [
    `teardownd (${version}) unstable; urgency=medium`,
    '',
    '  * Single executable with its own Node 22 runtime; systemd unit.',
    '',
    ` -- ${MAINTAINER}  Mon, 30 Nov 2026 00:00:00 +0000`,
    '',
  ].join('\n');
}

function put(root: string, path: string, content: Buffer | string, mode: number): void {
  const dest = join(root, path);
  mkdirSync(dirname(dest), { recursive: true, mode: 0o755 });
  writeFileSync(dest, content);
  chmodSync(dest, mode);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)],
  );
}

export function buildDeb(input: DebInput): void {
  const stage = `${input.output}.d`;
  rmSync(stage, { recursive: true, force: true });
  mkdirSync(stage, { recursive: true, mode: 0o755 });
  const scripts = join(input.repo, 'scripts', 'deb');

  mkdirSync(join(stage, 'usr', 'bin'), { recursive: true, mode: 0o755 });
  copyFileSync(input.binary, join(stage, 'usr', 'bin', 'teardownd'));
  chmodSync(join(stage, 'usr', 'bin', 'teardownd'), 0o755);
  put(
    stage,
    'lib/systemd/system/teardownd.service',
    readFileSync(join(input.repo, 'systemd', 'teardownd.service')),
    0o644,
  );
  put(
    stage,
    'etc/teardownd/config.example.json',
    readFileSync(join(input.repo, 'scripts', 'config.example.json')),
    0o644,
  );
  put(stage, 'usr/share/doc/teardownd/copyright', readFileSync(join(scripts, 'copyright')), 0o644);
  // A native package (no Debian revision): its changelog is changelog.gz.
  put(stage, 'usr/share/doc/teardownd/changelog.gz', gzipSync(changelog(input.version), { level: 9 }), 0o644);
  put(
    stage,
    'usr/share/lintian/overrides/teardownd',
    readFileSync(join(scripts, 'lintian-overrides')),
    0o644,
  );
  put(
    stage,
    'usr/share/man/man8/teardownd.8.gz',
    gzipSync(readFileSync(join(scripts, 'teardownd.8')), { level: 9 }),
    0o644,
  );

  const payload = filesUnder(stage);
  const installedKb = Math.ceil(payload.reduce((n, f) => n + statSync(f).size, 0) / 1024);
  const md5sums = payload
    .map((f) => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(stage, f)}`)
    .join('\n');

  put(stage, 'DEBIAN/control', control(input.version, installedKb), 0o644);
  put(stage, 'DEBIAN/conffiles', '/etc/teardownd/config.example.json\n', 0o644);
  put(stage, 'DEBIAN/md5sums', `${md5sums}\n`, 0o644);
  for (const script of ['postinst', 'prerm', 'postrm']) {
    put(stage, `DEBIAN/${script}`, readFileSync(join(scripts, script)), 0o755);
  }

  // gzip rather than xz: the payload is one ~130 MB executable and xz takes minutes on 2 cores.
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', stage, input.output], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  rmSync(stage, { recursive: true, force: true });
}
