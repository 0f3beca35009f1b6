// The consent banner and the privacy centre: the consent ledger and its proof,
// data download, erasure, the audit log and the device list.
import { h, num } from './dom.js';
import { t } from './i18n.js';
import { POLICY_KEY } from './config.js';

const PURPOSES = ['analytics', 'personalization', 'marketing'];
const POLICY_TEXT = 'Teapot & Co. records page views and clicks on this device for its dashboard, only with your consent.';
const $ = (sel) => document.querySelector(sel);

/** Shows the banner on a first visit, and again after a policy change. */
export async function showConsentIfNeeded(app) {
  const status = await app.trail.privacy.status(app.subject);
  const banner = $('#consent');
  if (status.decided && !status.needsReconsent) {
    banner.hidden = true;
    return;
  }
  for (const p of PURPOSES) $(`#consent-${p}`).checked = status.purposes[p]?.granted ?? false;
  $('#consent-version').textContent = status.needsReconsent ? `Our policy changed (version ${status.policyVersion}): please choose again.` : '';
  banner.hidden = false;
  banner.dataset.reconsent = String(status.needsReconsent);
  $('#consent-accept').focus();
}

/** Records the visitor's choices, granted and refused, with the text shown. */
async function decide(app, chosen) {
  const trail = app.trail;
  const granted = ['necessary', ...PURPOSES.filter((p) => chosen.includes(p))];
  const refused = PURPOSES.filter((p) => !chosen.includes(p));
  await app.tracker.flush();
  await trail.privacy.grant(app.subject, { purposes: granted, source: 'banner', text: POLICY_TEXT, userAgent: navigator.userAgent });
  if (refused.length) await trail.privacy.withdraw(app.subject, { purposes: refused, source: 'banner' });
  $('#consent').hidden = true;
  app.refresh();
}

export function wireConsent(app) {
  $('#consent-accept').addEventListener('click', () => void decide(app, PURPOSES));
  $('#consent-reject').addEventListener('click', () => void decide(app, []));
  $('#consent-form').addEventListener('submit', (e) => {
    e.preventDefault();
    void decide(app, PURPOSES.filter((p) => $(`#consent-${p}`).checked));
  });
}

function download(file, name) {
  const url = URL.createObjectURL(new Blob([file.bytes], { type: file.mimeType }));
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

const when = (ms) => new Date(ms).toLocaleString(document.documentElement.lang);

export async function privacyView(app) {
  const trail = app.trail;
  const subject = app.subject;
  const [status, ledger, audit, events] = await Promise.all([
    trail.privacy.status(subject),
    trail.privacy.ledger({ subject, limit: 20 }),
    trail.privacy.audit({ subject, limit: 50 }),
    trail.tracking.count(app.userId ? { userId: app.userId } : { anonymousId: app.anonymousId }),
  ]);
  const devices = app.userId ? await trail.sessions.list(app.userId) : [];
  const verify = h('p', { role: 'status', id: 'verify-result' });
  const out = h('p', { role: 'status', id: 'privacy-status' });

  const consentRows = PURPOSES.map((p) => {
    const s = status.purposes[p];
    return h('tr', {}, h('th', { scope: 'row' }, p), h('td', { class: s?.granted ? 'ok' : 'bad' }, s?.granted ? 'granted' : s?.decided ? 'refused' : 'not asked'), h('td', {}, s?.at ? when(s.at) : '–'));
  });

  return h(
    'section',
    { dataset: { title: t('privacyTitle') } },
    h('h1', {}, t('privacyTitle')),
    h('p', { class: 'muted' }, `About ${app.userId ? `user ${app.userId}` : 'you (an anonymous visitor)'}: `, h('strong', { id: 'my-events' }, num(events)), events === 1 ? ' event is stored on this device.' : ' events are stored on this device.'),
    h(
      'div',
      { class: 'panels' },
      h(
        'section',
        { class: 'card panel' },
        h('h2', {}, 'Your consent'),
        h('table', {}, h('caption', { class: 'sr-only' }, 'Consent per purpose'), h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Purpose'), h('th', { scope: 'col' }, 'State'), h('th', { scope: 'col' }, 'Since'))), h('tbody', {}, consentRows)),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', id: 'change-consent', class: 'secondary', onclick: () => { $('#consent').hidden = false; $('#consent-accept').focus(); } }, 'Change my choices'),
          h(
            'button',
            {
              type: 'button',
              id: 'bump-policy',
              class: 'secondary',
              onclick: () => {
                localStorage.setItem(POLICY_KEY, String(Number(app.policyVersion) + 1));
                location.reload();
              },
            },
            `Publish policy v${Number(app.policyVersion) + 1}`,
          ),
        ),
      ),
      h(
        'section',
        { class: 'card panel' },
        h('h2', {}, 'Your data'),
        h('p', {}, 'Download everything this shop has about you, or erase it.'),
        h(
          'div',
          { class: 'actions' },
          h('button', { type: 'button', id: 'download-json', onclick: async () => download(await trail.privacy.export(subject, { format: 'json' }), 'my-teapot-data.json') }, 'Download (JSON)'),
          h('button', { type: 'button', id: 'download-sqlite', onclick: async () => download(await trail.privacy.export(subject, { format: 'sqlite' }), 'my-teapot-data.sqlite') }, 'Download (SQLite)'),
          h(
            'button',
            {
              type: 'button',
              id: 'erase-me',
              class: 'danger',
              onclick: () => {
                const dialog = $('#confirm');
                dialog.returnValue = '';
                dialog.onclose = async () => {
                  if (dialog.returnValue !== 'erase') return;
                  const report = await trail.privacy.erase(subject, { reason: 'user request (privacy centre)', actor: 'self' });
                  await app.forget();
                  app.refresh();
                  queueMicrotask(() => {
                    const s = document.querySelector('#privacy-status');
                    if (s) s.textContent = `Erased: ${num(Object.values(report.counts).reduce((a, b) => a + b, 0))} records.`;
                  });
                };
                dialog.showModal();
              },
            },
            'Erase me',
          ),
        ),
        out,
      ),
      h(
        'section',
        { class: 'card panel wide' },
        h('h2', {}, 'Consent ledger'),
        h('p', { class: 'muted' }, 'Every decision is recorded with the policy version and a hash of the text shown, in a hash chain.'),
        h('button', { type: 'button', id: 'verify', class: 'secondary', onclick: async () => { const r = await trail.privacy.verifyLedger(); verify.textContent = r.ok ? `The ledger verifies: ${num(r.checked)} records, none altered.` : `The ledger does NOT verify: ${r.problems.map((p) => `#${p.seq} ${p.problem}`).join('; ')}`; verify.className = r.ok ? 'ok' : 'bad'; } }, 'Verify the ledger'),
        verify,
        ledgerTable(ledger),
      ),
      h('section', { class: 'card panel wide' }, h('h2', {}, 'Audit log'), h('p', { class: 'muted' }, 'What was done with your data, and by whom: also hash-chained.'), auditTable(audit)),
      h(
        'section',
        { class: 'card panel wide' },
        h('h2', {}, 'Your devices'),
        app.userId
          ? devicesTable(app, devices)
          : h('p', { class: 'muted' }, 'Log in to see the sessions (devices) signed in as you.'),
      ),
    ),
  );
}

function ledgerTable(rows) {
  if (rows.length === 0) return h('p', { class: 'muted' }, 'No decisions recorded yet.');
  return h(
    'table',
    { id: 'ledger' },
    h('caption', { class: 'sr-only' }, 'Consent ledger'),
    h('thead', {}, h('tr', {}, ['#', 'When', 'Action', 'Purposes', 'Policy', 'Source'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, r.seq), h('td', {}, when(r.at)), h('td', {}, r.action), h('td', {}, r.purposes.join(', ')), h('td', {}, r.policyVersion), h('td', {}, r.source)))),
  );
}

function auditTable(rows) {
  if (rows.length === 0) return h('p', { class: 'muted' }, 'Nothing audited about you yet: exports, erasures and consent changes appear here.');
  return h(
    'table',
    { id: 'audit' },
    h('caption', { class: 'sr-only' }, 'Audit log'),
    h('thead', {}, h('tr', {}, ['#', 'When', 'Action', 'Actor', 'Subject'].map((c) => h('th', { scope: 'col' }, c)))),
    h('tbody', {}, rows.map((r) => h('tr', {}, h('td', {}, r.seq), h('td', {}, when(r.at)), h('td', {}, r.action), h('td', {}, r.actor), h('td', {}, r.subject ?? '(erased)')))),
  );
}

function devicesTable(app, sessions) {
  return h(
    'table',
    { id: 'devices' },
    h('caption', { class: 'sr-only' }, 'Sessions signed in as you'),
    h('thead', {}, h('tr', {}, ['Device', 'Signed in', 'Last seen', ''].map((c) => h('th', { scope: 'col' }, c || h('span', { class: 'sr-only' }, 'Actions'))))),
    h(
      'tbody',
      {},
      sessions.map((s) =>
        h(
          'tr',
          {},
          h('td', {}, `${s.client.browser} on ${s.client.os}`, s.sessionId === app.sessionId ? ' (this one)' : ''),
          h('td', {}, when(s.createdAt)),
          h('td', {}, when(s.lastSeenAt)),
          h('td', {}, h('button', { type: 'button', class: 'secondary', 'aria-label': `Revoke the session from ${when(s.createdAt)}`, onclick: async () => { await app.trail.sessions.destroyBySessionId(app.userId, s.sessionId); app.refresh(); } }, 'Revoke')),
        ),
      ),
    ),
  );
}
