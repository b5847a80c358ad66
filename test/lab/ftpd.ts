// A tiny FTP server for the lab (integration-ftp.test.ts; no FTP server is installed here): on
// --bind:21 it greets "220 <name>", takes any USER/PASS, and serves RETR <n> as "<name>\n"
// followed by n bytes of labPattern() over a data connection opened by PASV (reply "227 ...
// (its own address,p1,p2)"), EPSV ("229 ... (|||port|)"), PORT or EPRT (it connects from its
// port 20, as FTP servers do). Enough of RFC 959 for Python's ftplib and curl. Prints
// "ready <name>" once it listens. Exits on SIGTERM/SIGINT.
import net from 'node:net';
import { parseArgs } from 'node:util';
import { labPattern } from './pattern.js';
import { requireLabNamespace } from './guard.js';

// `node --test dist/test/` runs every .js under test/: do nothing there (see servers.ts).
if (process.env['NODE_TEST_CONTEXT']) process.exit(0);

requireLabNamespace('ftpd.js');

const { values } = parseArgs({ options: { name: { type: 'string' }, bind: { type: 'string' } } });
const name = values.name ?? 'rs';
const addr = values.bind ?? '0.0.0.0';

function session(ctl: net.Socket): void {
  let passive: net.Server | null = null;
  let accepted: Promise<net.Socket> | null = null;
  let active: { host: string; port: number } | null = null;
  const say = (line: string): void => {
    ctl.write(`${line}\r\n`);
  };
  const dataSocket = (): Promise<net.Socket> => {
    if (accepted !== null) {
      const s = accepted;
      accepted = null;
      return s;
    }
    const to = active;
    if (to === null) return Promise.reject(new Error('no PASV, EPSV, PORT or EPRT first'));
    active = null;
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: to.host, port: to.port, localAddress: addr, localPort: 20 }, () => resolve(s));
      s.once('error', reject);
    });
  };
  const listen = (reply: (port: number) => string): void => {
    passive?.close();
    const srv = net.createServer();
    // The client connects before it sends RETR (ftplib, curl): the first connection is kept.
    accepted = new Promise((resolve) => srv.once('connection', (s) => {
      srv.close();
      resolve(s);
    }));
    srv.listen(0, addr, () => say(reply((srv.address() as net.AddressInfo).port)));
    passive = srv;
  };
  let buf = '';
  ctl.setEncoding('latin1');
  ctl.on('error', () => {});
  ctl.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\r\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const sp = line.indexOf(' ');
      const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
      const arg = sp < 0 ? '' : line.slice(sp + 1);
      if (cmd === 'USER') say('331 Password please.');
      else if (cmd === 'PASS') say('230 Logged in.');
      else if (cmd === 'TYPE') say('200 Type set.');
      else if (cmd === 'PASV') listen((p) => `227 Entering Passive Mode (${addr.replaceAll('.', ',')},${p >> 8},${p & 255}).`);
      else if (cmd === 'EPSV') listen((p) => `229 Entering Extended Passive Mode (|||${p}|)`);
      else if (cmd === 'PORT') {
        const n = arg.split(',').map(Number);
        active = { host: n.slice(0, 4).join('.'), port: n[4]! * 256 + n[5]! };
        say('200 PORT command successful.');
      } else if (cmd === 'EPRT') {
        const [, , host, port] = arg.split(arg[0]!);
        active = { host: host!, port: Number(port) };
        say('200 EPRT command successful.');
      } else if (cmd === 'RETR') {
        const bytes = Number(arg);
        dataSocket().then((s) => {
          say('150 Opening BINARY mode data connection.');
          s.on('error', () => {});
          s.write(`${name}\n`);
          s.end(labPattern(0, bytes), () => say('226 Transfer complete.'));
        }, (e: Error) => say(`425 Can't open data connection: ${e.message}`));
      } else if (cmd === 'QUIT') {
        say('221 Goodbye.');
        ctl.end();
      } else say(`502 ${cmd} not implemented.`);
    }
  });
  ctl.on('close', () => passive?.close());
  say(`220 ${name} ready.`);
}

const server = net.createServer(session);
server.listen(21, addr, () => process.stdout.write(`ready ${name}\n`));
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
