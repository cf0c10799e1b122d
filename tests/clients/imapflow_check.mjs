// imapflow_check.mjs: an IMAP server as the npm imapflow client sees it.
//
//   node tests/clients/imapflow_check.mjs --host H --port P --user U
//        (--password-file F | env IMAP_PASSWORD) [--tls implicit|starttls]
//        [--ca CERT.pem] [--servername NAME] [--insecure]
//        [--deliver stdin | --deliver-cmd 'COMMAND'] [--idle-timeout-ms 1000]
//        [--timeout-ms 30000]
//
// What it does, one step after another, each with messages it made itself
// (so what it expects comes from what it sent, never from a fixed answer):
//
//   deliver  three messages through the delivery hook (below): a plain one
//            and a multipart/alternative one that both carry a word made for
//            this run, and a multipart/mixed one with an attachment that does
//            not; then the server must hold them in INBOX
//   list     LIST: INBOX is there; CREATE a mailbox for this run, LIST again
//   fetch    FETCH of UID, FLAGS, ENVELOPE, BODYSTRUCTURE, INTERNALDATE,
//            RFC822.SIZE, the whole message and one body part, compared with
//            what was sent (the server may put trace fields in front)
//   search   UID SEARCH BODY, TEXT and SUBJECT with the run's words: exactly
//            the UIDs of the messages that hold them
//   flags    STORE +FLAGS, -FLAGS and FLAGS (a keyword too when the mailbox's
//            PERMANENTFLAGS has \*); read back in this session and, after a
//            new login, in another
//   idle     IDLE; once the server has answered "+", a fourth message through
//            the hook; its EXISTS must come within --idle-timeout-ms of the
//            hook's answer that the message is stored
//   move     MOVE of that message into the run's mailbox: gone from INBOX,
//            found there by the UID the server reported (COPYUID)
//   append   APPEND of a fifth message with \Seen \Draft and a date to the
//            run's mailbox: the same bytes, flags and date read back
//   cleanup  DELETE of the run's mailbox, LOGOUT
//
// The delivery hook takes a whole message (CRLF lines) for --user and returns
// once the server has stored it (an SMTP 250 from homeportd's MX, LMTP's 250
// from Dovecot):
//   --deliver stdin     (default) a JSON line on stdout,
//                       {"event":"deliver","id":N,"rcpt":U,"from":F,"message":BASE64},
//                       answered by a line {"id":N,"ok":true} on stdin (or
//                       "ok":false, "error":"...")
//   --deliver-cmd CMD   sh -c CMD with the message on its stdin and RCPT and
//                       SENDER in its environment; exit status 0 means stored
//
// The last line on stdout is the result, {"event":"result","ok":...,
// "failures":[...],"steps":{...}}; the exit status is 0 only when every check
// held, 1 when one did not, 2 for a usage error. Diagnostics go to stderr.

import { ImapFlow } from 'imapflow';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';

const USAGE = 'usage: imapflow_check.mjs --host H --port P --user U (--password-file F | env IMAP_PASSWORD) ' +
    '[--tls implicit|starttls] [--ca FILE] [--servername NAME] [--insecure] ' +
    "[--deliver stdin | --deliver-cmd CMD] [--idle-timeout-ms MS] [--timeout-ms MS]";
const SENDER = 'imapflow-check@client.test';

// ---- options ------------------------------------------------------------------

function options() {
    let v;
    try {
        ({ values: v } = parseArgs({
            options: {
                host: { type: 'string' },
                port: { type: 'string' },
                user: { type: 'string' },
                'password-file': { type: 'string' },
                tls: { type: 'string', default: 'implicit' },
                ca: { type: 'string' },
                servername: { type: 'string' },
                insecure: { type: 'boolean', default: false },
                deliver: { type: 'string', default: 'stdin' },
                'deliver-cmd': { type: 'string' },
                'idle-timeout-ms': { type: 'string', default: '1000' },
                'timeout-ms': { type: 'string', default: '30000' },
                help: { type: 'boolean', default: false }
            }
        }));
    } catch (e) {
        usage(e.message);
    }
    if (v.help) {
        process.stdout.write(USAGE + '\n');
        process.exit(0);
    }
    const port = Number(v.port);
    const idleTimeout = Number(v['idle-timeout-ms']);
    const timeout = Number(v['timeout-ms']);
    if (!v.host || !v.user || !Number.isInteger(port) || port < 1 || port > 65535) {
        usage('--host, --port and --user are required');
    }
    if (!['implicit', 'starttls'].includes(v.tls)) {
        usage('--tls is implicit or starttls');
    }
    if (!(idleTimeout > 0) || !(timeout > 0)) {
        usage('--idle-timeout-ms and --timeout-ms are positive numbers');
    }
    if (!v['deliver-cmd'] && v.deliver !== 'stdin') {
        usage('--deliver is stdin (or give --deliver-cmd)');
    }
    let password = process.env.IMAP_PASSWORD;
    if (v['password-file']) {
        password = readFileSync(v['password-file'], 'utf8').replace(/\r?\n$/, '');
    }
    if (!password) {
        usage('no password: --password-file or IMAP_PASSWORD');
    }
    const tls = { rejectUnauthorized: !v.insecure };
    if (v.ca) {
        tls.ca = [readFileSync(v.ca)];
    }
    if (v.servername) {
        tls.servername = v.servername;
    }
    return {
        host: v.host, port, user: v.user, password, tlsMode: v.tls, tls,
        deliverCmd: v['deliver-cmd'], idleTimeout, timeout
    };
}

function usage(msg) {
    process.stderr.write(`imapflow_check: ${msg}\n${USAGE}\n`);
    process.exit(2);
}

// ---- output -------------------------------------------------------------------

// JSON text of v; UIDVALIDITY and MODSEQ come as BigInt, which JSON has not.
function js(v) {
    return JSON.stringify(v, (k, x) => (typeof x === 'bigint' ? x.toString() : x));
}

function emit(obj) {
    process.stdout.write(js(obj) + '\n');
}

function note(msg) {
    process.stderr.write(`imapflow_check: ${msg}\n`);
}

// ---- the delivery hook ------------------------------------------------------------

class StdinHook {
    constructor() {
        this.next = 1;
        this.waiting = new Map();
        this.rl = createInterface({ input: process.stdin });
        this.rl.on('line', (line) => {
            let a;
            try {
                a = JSON.parse(line);
            } catch (e) {
                note(`ignored a line on stdin that is not JSON: ${line.slice(0, 80)}`);
                return;
            }
            const w = this.waiting.get(a.id);
            if (!w) {
                note(`ignored an answer for no delivery: ${line.slice(0, 80)}`);
                return;
            }
            this.waiting.delete(a.id);
            if (a.ok) {
                w.resolve();
            } else {
                w.reject(new Error(`delivery ${a.id} failed: ${a.error || 'no reason given'}`));
            }
        });
        this.rl.on('close', () => {
            for (const w of this.waiting.values()) {
                w.reject(new Error('stdin closed before the delivery was answered'));
            }
            this.waiting.clear();
        });
    }

    deliver(rcpt, message) {
        const id = this.next++;
        return new Promise((resolve, reject) => {
            this.waiting.set(id, { resolve, reject });
            emit({ event: 'deliver', id, rcpt, from: SENDER, message: message.toString('base64') });
        });
    }

    close() {
        this.rl.close();
    }
}

class CommandHook {
    constructor(cmd) {
        this.cmd = cmd;
    }

    deliver(rcpt, message) {
        return new Promise((resolve, reject) => {
            const child = spawn('sh', ['-c', this.cmd], {
                stdio: ['pipe', 'ignore', 'inherit'],
                env: { ...process.env, RCPT: rcpt, SENDER }
            });
            child.on('error', reject);
            child.on('exit', (code, sig) => {
                if (code === 0) {
                    resolve();
                } else {
                    reject(new Error(`--deliver-cmd exited with ${sig || code}`));
                }
            });
            child.stdin.end(message);
        });
    }

    close() {}
}

// ---- messages -------------------------------------------------------------------

// Headers and body as one Buffer with CRLF line ends.
function message(headers, body) {
    const head = Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n');
    return Buffer.from(`${head}\r\n\r\n${body.replace(/\r?\n/g, '\r\n')}`);
}

function makeMessages(run, user) {
    const domain = user.includes('@') ? user.split('@')[1] : 'example.test';
    const word = `zq${run}word`;        // the word SEARCH looks for
    const date = 'Mon, 02 Nov 2026 10:00:00 +0000';
    const common = (n, subject) => ({
        'From': `Check Sender <${SENDER}>`,
        'To': `<${user}>`,
        'Subject': subject,
        'Date': date,
        'Message-ID': `<check-${run}-${n}@client.test>`,
        'MIME-Version': '1.0'
    });
    const plain = {
        n: 1, hasWord: true, subject: `imapflow check ${run} plain`,
        raw: null, part1: null
    };
    plain.raw = message({ ...common(1, plain.subject), 'Content-Type': 'text/plain; charset=utf-8' },
        `Hello,\nthis plain message carries ${word} once.\n-- \nimapflow check\n`);
    const alt = { n: 2, hasWord: true, subject: `imapflow check ${run} alternative` };
    // BODY[1] ends before the CRLF in front of the next boundary line: that
    // CRLF belongs to the boundary (RFC 2046 5.1.1).
    alt.part1 = `The alternative text part, with ${word} in it.`;
    alt.raw = message({ ...common(2, alt.subject), 'Content-Type': `multipart/alternative; boundary="b-${run}"` },
        `This is a multipart message.\n--b-${run}\nContent-Type: text/plain; charset=us-ascii\n\n` +
        alt.part1 + `\n--b-${run}\nContent-Type: text/html; charset=us-ascii\n\n` +
        `<p>The alternative HTML part, with <b>${word}</b> in it.</p>\n--b-${run}--\n`);
    const mixed = { n: 3, hasWord: false, subject: `imapflow check ${run} attachment` };
    const attachment = randomBytes(300).toString('base64').replace(/(.{76})/g, '$1\n');
    mixed.part1 = 'A message with an attachment and no search word.';
    mixed.raw = message({ ...common(3, mixed.subject), 'Content-Type': `multipart/mixed; boundary="m-${run}"` },
        `--m-${run}\nContent-Type: text/plain; charset=us-ascii\n\n` + mixed.part1 +
        `\n--m-${run}\nContent-Type: application/octet-stream; name="data.bin"\n` +
        `Content-Disposition: attachment; filename="data.bin"\nContent-Transfer-Encoding: base64\n\n` +
        `${attachment}\n--m-${run}--\n`);
    const idle = { n: 4, subject: `imapflow check ${run} idle` };
    idle.raw = message(common(4, idle.subject), 'Delivered while the client was in IDLE.\n');
    const appended = { n: 5, subject: `imapflow check ${run} append` };
    appended.raw = message(common(5, appended.subject), 'Appended by the client itself.\n');
    appended.date = new Date('2026-10-01T08:30:00Z');
    for (const m of [plain, alt, mixed, idle, appended]) {
        m.messageId = `<check-${run}-${m.n}@client.test>`;
    }
    return { word, seeded: [plain, alt, mixed], idle, appended };
}

// ---- checks -----------------------------------------------------------------------

class Checks {
    constructor() {
        this.failures = [];
        this.steps = {};
    }

    // Record a failure unless cond; returns cond.
    expect(step, cond, what) {
        if (!cond) {
            this.failures.push(`${step}: ${what}`);
        }
        return cond;
    }

    equal(step, got, want, what) {
        const g = js(got);
        const w = js(want);
        return this.expect(step, g === w, `${what}: got ${g}, want ${w}`);
    }
}

function sorted(a) {
    return [...a].sort((x, y) => (x < y ? -1 : x > y ? 1 : 0));
}

function endsWith(buf, tail) {
    return buf.length >= tail.length && buf.subarray(buf.length - tail.length).equals(tail);
}

// What the server may add in front of a delivered message: header fields of
// its own (Return-Path, Received, Delivered-To, ...), nothing else.
function tracePrefixOk(prefix) {
    const text = prefix.toString('latin1');
    return text === '' || /^([A-Za-z0-9-]+:[^\r\n]*\r\n([ \t][^\r\n]*\r\n)*)+$/.test(text);
}

function withTimeout(promise, ms, what) {
    let timer;
    const t = new Promise((resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    });
    return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}

// A logger for imapflow that tells us when the server has answered IDLE's "+".
function idleLogger(onIdling) {
    const quiet = () => {};
    return {
        trace: quiet, info: quiet, warn: quiet,
        debug: (o) => {
            if (o && typeof o.msg === 'string' && o.msg.startsWith('Initiated IDLE')) {
                onIdling();
            }
        },
        error: (o) => note(`imapflow: ${o && (o.msg || o.err) ? (o.msg || o.err) : js(o)}`)
    };
}

function newClient(o, logger) {
    return new ImapFlow({
        host: o.host,
        port: o.port,
        secure: o.tlsMode === 'implicit',
        doSTARTTLS: o.tlsMode === 'starttls' ? true : undefined,
        tls: o.tls,
        auth: { user: o.user, pass: o.password },
        logger: logger || false,
        disableAutoIdle: true,
        connectionTimeout: o.timeout,
        greetingTimeout: o.timeout,
        socketTimeout: o.timeout
    });
}

// UID of every message in the open mailbox, by Message-ID.
async function uidsByMessageId(client) {
    const out = new Map();
    if (client.mailbox.exists === 0) {
        return out;
    }
    for await (const m of client.fetch('1:*', { uid: true, envelope: true })) {
        out.set(m.envelope.messageId, m.uid);
    }
    return out;
}

async function run(o, hook, c) {
    const runId = randomBytes(5).toString('hex');
    const msgs = makeMessages(runId, o.user);
    const box = `Check-${runId}`;
    c.steps.run = runId;

    // deliver: three messages, stored before the client looks
    for (const m of msgs.seeded) {
        await hook.deliver(o.user, m.raw);
    }
    c.steps.deliver = { messages: msgs.seeded.map((m) => m.messageId) };

    let idlingSince = null;
    let onIdling = () => {};
    const client = newClient(o, idleLogger(() => onIdling()));
    await client.connect();
    c.steps.connect = {
        tls: client.tls ? { version: client.tls.version, authorized: client.tls.authorized } : null,
        capabilities: sorted([...client.capabilities.keys()])
    };
    c.expect('connect', client.tls, 'the session is not under TLS');
    c.expect('connect', client.authenticated, 'not logged in');

    // list
    let list = await client.list();
    const names = list.map((b) => b.path);
    c.expect('list', names.includes('INBOX'), `no INBOX in LIST: ${js(names)}`);
    const created = await client.mailboxCreate(box);
    c.expect('list', created && created.path === box, `CREATE ${box}: ${js(created)}`);
    list = await client.list();
    const made = list.find((b) => b.path === box);
    c.expect('list', made, `${box} not in LIST after CREATE`);
    c.steps.list = {
        before: names.length, after: list.length, delimiter: made ? made.delimiter : null,
        inbox: list.filter((b) => b.path === 'INBOX').map((b) => ({ flags: [...b.flags], specialUse: b.specialUse || null }))
    };

    // fetch
    const inbox = await client.mailboxOpen('INBOX');
    c.steps.select = {
        exists: inbox.exists, uidValidity: String(inbox.uidValidity), uidNext: inbox.uidNext,
        permanentFlags: inbox.permanentFlags ? sorted([...inbox.permanentFlags]) : null
    };
    const found = new Map();
    for await (const m of client.fetch('1:*', {
        uid: true, flags: true, envelope: true, bodyStructure: true, internalDate: true, size: true
    })) {
        found.set(m.envelope.messageId, m);
    }
    const fetched = [];
    for (const want of msgs.seeded) {
        const m = found.get(want.messageId);
        if (!c.expect('fetch', m, `${want.messageId} not in INBOX (${found.size} messages there)`)) {
            continue;
        }
        want.uid = m.uid;
        c.equal('fetch', m.envelope.subject, want.subject, `ENVELOPE subject of ${want.messageId}`);
        c.equal('fetch', m.envelope.from.map((a) => a.address), [SENDER], `ENVELOPE from of ${want.messageId}`);
        c.equal('fetch', m.envelope.to.map((a) => a.address.toLowerCase()), [o.user.toLowerCase()],
            `ENVELOPE to of ${want.messageId}`);
        c.equal('fetch', m.envelope.date && m.envelope.date.toISOString(), '2026-11-02T10:00:00.000Z',
            `ENVELOPE date of ${want.messageId}`);
        c.expect('fetch', !m.flags.has('\\Seen') && !m.flags.has('\\Deleted'),
            `a new message has flags ${js([...m.flags])}`);
        c.expect('fetch', m.internalDate instanceof Date && !isNaN(m.internalDate), 'no INTERNALDATE');
        c.expect('fetch', m.size >= want.raw.length, `RFC822.SIZE ${m.size} < ${want.raw.length} bytes sent`);
        const full = await client.fetchOne(String(m.uid), { source: true, size: true }, { uid: true });
        const ok = c.expect('fetch', endsWith(full.source, want.raw),
            `BODY[] of ${want.messageId} does not end with the message sent`);
        if (ok) {
            const prefix = full.source.subarray(0, full.source.length - want.raw.length);
            c.expect('fetch', tracePrefixOk(prefix), `BODY[] of ${want.messageId} has more than header fields in front`);
        }
        c.equal('fetch', full.source.length, m.size, `RFC822.SIZE and BODY[] length of ${want.messageId}`);
        const types = m.bodyStructure.childNodes
            ? m.bodyStructure.childNodes.map((p) => p.type) : [m.bodyStructure.type];
        if (want.part1) {
            const part = await client.fetchOne(String(m.uid), { bodyParts: ['1'] }, { uid: true });
            const got = part.bodyParts && part.bodyParts.get('1');
            c.expect('fetch', got && got.equals(Buffer.from(want.part1)),
                `BODY[1] of ${want.messageId}: ${got ? js(got.toString()) : 'missing'}`);
        }
        fetched.push({ messageId: want.messageId, uid: m.uid, size: m.size, flags: [...m.flags], parts: types });
    }
    const types = Object.fromEntries(fetched.map((f) => [f.messageId, f.parts]));
    c.equal('fetch', types[msgs.seeded[0].messageId], ['text/plain'], 'BODYSTRUCTURE of the plain message');
    c.equal('fetch', types[msgs.seeded[1].messageId], ['text/plain', 'text/html'],
        'BODYSTRUCTURE of the alternative message');
    c.equal('fetch', types[msgs.seeded[2].messageId], ['text/plain', 'application/octet-stream'],
        'BODYSTRUCTURE of the message with an attachment');
    c.steps.fetch = fetched;

    // search
    const withWord = sorted(msgs.seeded.filter((m) => m.hasWord).map((m) => m.uid));
    const all = sorted(msgs.seeded.map((m) => m.uid));
    const byBody = sorted(await client.search({ body: msgs.word }, { uid: true }));
    const byText = sorted(await client.search({ text: msgs.word.toUpperCase() }, { uid: true }));
    const bySubject = sorted(await client.search({ subject: `imapflow check ${runId}` }, { uid: true }));
    const byHeader = sorted(await client.search({ header: { 'Message-ID': msgs.seeded[2].messageId } }, { uid: true }));
    c.equal('search', byBody, withWord, `UID SEARCH BODY ${msgs.word}`);
    c.equal('search', byText, withWord, `UID SEARCH TEXT ${msgs.word.toUpperCase()} (case-insensitive)`);
    c.equal('search', bySubject, all, 'UID SEARCH SUBJECT');
    c.equal('search', byHeader, [msgs.seeded[2].uid], 'UID SEARCH HEADER Message-ID');
    c.steps.search = { word: msgs.word, body: byBody, text: byText, subject: bySubject, header: byHeader };

    // flags
    const [f1, f2] = [msgs.seeded[0].uid, msgs.seeded[1].uid];
    const keywords = inbox.permanentFlags && inbox.permanentFlags.has('\\*');
    await client.messageFlagsAdd(String(f1), ['\\Seen', '\\Flagged', ...(keywords ? ['$CheckKeyword'] : [])], { uid: true });
    await client.messageFlagsRemove(String(f1), ['\\Seen'], { uid: true });
    await client.messageFlagsSet(String(f2), ['\\Answered', '\\Seen'], { uid: true });
    const flagsNow = async (cl) => {
        const out = {};
        for await (const m of cl.fetch(`${f1},${f2}`, { uid: true, flags: true }, { uid: true })) {
            out[m.uid] = sorted([...m.flags].filter((f) => f !== '\\Recent'));
        }
        return out;
    };
    const want = { [f1]: sorted(['\\Flagged', ...(keywords ? ['$CheckKeyword'] : [])]), [f2]: ['\\Answered', '\\Seen'] };
    const seenHere = await flagsNow(client);
    c.equal('flags', seenHere, want, 'FLAGS after STORE, same session');
    const other = newClient(o);
    await other.connect();
    await other.mailboxOpen('INBOX', { readOnly: true });
    const seenThere = await flagsNow(other);
    await other.logout();
    c.equal('flags', seenThere, want, 'FLAGS after STORE, another session');
    c.steps.flags = { keywords: !!keywords, session: seenHere, other: seenThere };

    // idle
    let exists = null;
    const existsSeen = new Promise((resolve) => {
        client.on('exists', (e) => {
            if (e.path === 'INBOX' && e.count > e.prevCount) {
                exists = { ...e, at: performance.now() };
                resolve();
            }
        });
    });
    const idling = new Promise((resolve) => {
        onIdling = () => {
            idlingSince = performance.now();
            resolve();
        };
    });
    const idleDone = client.idle();
    await withTimeout(idling, o.timeout, 'IDLE');
    const before = client.mailbox.exists;
    const t0 = performance.now();
    await hook.deliver(o.user, msgs.idle.raw);
    const stored = performance.now();
    // Wait up to --timeout-ms, so that a late EXISTS is told from none at all;
    // the limit that counts, --idle-timeout-ms, is checked below.
    await withTimeout(existsSeen, o.timeout, 'EXISTS during IDLE').catch((e) => note(e.message));
    onIdling = () => {};
    const idleResult = {
        idle_acknowledged_ms_before_delivery: Math.round(t0 - idlingSince),
        delivery_ms: Math.round(stored - t0),
        exists_ms_after_stored: exists ? Math.round(exists.at - stored) : null,
        exists_ms_after_delivery_began: exists ? Math.round(exists.at - t0) : null,
        count_before: before, count: exists ? exists.count : null
    };
    c.steps.idle = idleResult;
    c.expect('idle', exists, `no EXISTS while in IDLE within ${o.timeout} ms of the delivery`);
    if (exists) {
        c.expect('idle', exists.at - stored <= o.idleTimeout,
            `EXISTS came ${Math.round(exists.at - stored)} ms after the message was stored, more than ${o.idleTimeout} ms`);
        c.equal('idle', exists.count, before + 1, 'EXISTS count');
    }
    // The next command ends IDLE (DONE), and idle() returns.
    const uids = await uidsByMessageId(client);
    await idleDone;
    const idleUid = uids.get(msgs.idle.messageId);
    c.expect('idle', idleUid, `the message delivered during IDLE is not in INBOX`);

    // move
    if (idleUid) {
        const countBefore = client.mailbox.exists;
        const moved = await client.messageMove(String(idleUid), box, { uid: true });
        const destUid = moved && moved.uidMap ? moved.uidMap.get(idleUid) : undefined;
        const after = await uidsByMessageId(client);
        c.expect('move', !after.has(msgs.idle.messageId), 'the moved message is still in INBOX');
        c.equal('move', client.mailbox.exists, countBefore - 1, 'INBOX EXISTS after MOVE');
        const st = await client.status(box, { messages: true });
        c.equal('move', st.messages, 1, `STATUS ${box} MESSAGES after MOVE`);
        c.steps.move = { uid: idleUid, destination_uid: destUid ?? null, move_capability: client.capabilities.has('MOVE') };
        c.expect('move', client.capabilities.has('MOVE'), 'no MOVE capability (imapflow fell back to COPY and EXPUNGE)');
        c.expect('move', destUid, 'no COPYUID for the moved message');
    }

    // append
    const appended = await client.append(box, msgs.appended.raw, ['\\Seen', '\\Draft'], msgs.appended.date);
    c.steps.append = { uid: appended ? appended.uid ?? null : null, uidValidity: appended && appended.uidValidity ? String(appended.uidValidity) : null };
    c.expect('append', appended && appended.uid, `no APPENDUID: ${js(appended)}`);
    await client.mailboxOpen(box);
    const inBox = await uidsByMessageId(client);
    c.equal('append', sorted([...inBox.keys()]), sorted([msgs.idle.messageId, msgs.appended.messageId]),
        `messages in ${box}`);
    const movedUid = inBox.get(msgs.idle.messageId);
    if (movedUid && c.steps.move && c.steps.move.destination_uid) {
        c.equal('move', movedUid, c.steps.move.destination_uid, 'UID of the moved message, as COPYUID said');
    }
    const aUid = inBox.get(msgs.appended.messageId);
    if (c.expect('append', aUid, 'the appended message is not there') && appended && appended.uid) {
        c.equal('append', aUid, appended.uid, 'UID of the appended message, as APPENDUID said');
    }
    if (aUid) {
        const a = await client.fetchOne(String(aUid), { source: true, flags: true, internalDate: true }, { uid: true });
        c.expect('append', a.source.equals(msgs.appended.raw), 'BODY[] of the appended message differs from what was appended');
        c.equal('append', sorted([...a.flags].filter((f) => f !== '\\Recent')), ['\\Draft', '\\Seen'], 'FLAGS of the appended message');
        c.equal('append', a.internalDate && a.internalDate.toISOString(), msgs.appended.date.toISOString(),
            'INTERNALDATE of the appended message');
    }
    if (movedUid) {
        const m = await client.fetchOne(String(movedUid), { source: true }, { uid: true });
        c.expect('move', endsWith(m.source, msgs.idle.raw), 'BODY[] of the moved message is not the message delivered');
    }

    // cleanup
    await client.mailboxOpen('INBOX');
    await client.mailboxDelete(box);
    list = await client.list();
    c.expect('cleanup', !list.some((b) => b.path === box), `${box} still listed after DELETE`);
    await client.logout();
}

async function main() {
    const o = options();
    const hook = o.deliverCmd ? new CommandHook(o.deliverCmd) : new StdinHook();
    const c = new Checks();
    let error = null;
    try {
        await withTimeout(run(o, hook, c), o.timeout * 4, 'the whole check');
    } catch (e) {
        error = e;
        c.failures.push(`error: ${e.message}${e.responseText ? ` (server said: ${e.responseText})` : ''}`);
    } finally {
        hook.close();
    }
    emit({ event: 'result', ok: c.failures.length === 0, failures: c.failures, steps: c.steps });
    if (error && process.env.IMAPFLOW_CHECK_DEBUG) {
        note(error.stack);
    }
    process.exit(c.failures.length === 0 ? 0 : 1);
}

main();
