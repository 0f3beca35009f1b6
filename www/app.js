// Teapot & Co.: a small offline-first shop on usertrail. Everything it knows
// about you (session, cart, events, preferences, consent) lives in one SQLite
// database in this browser's private storage, shared by all its tabs.
import { connect, Tracker, uuidv7 } from '/pkg/browser.js';
import { shopView, productView, cartView, checkoutView, thanksView } from './shop.js';
import { dashboardView } from './dashboard.js';
import { preferencesView, definePrefs, applyPrefs } from './prefs.js';
import { privacyView, showConsentIfNeeded, wireConsent } from './privacy.js';
import { t } from './i18n.js';
import { EXPERIMENT, engineOptions } from './config.js';

const options = engineOptions();
const $ = (sel) => document.querySelector(sel);

/** What every view gets: the engine client and who is visiting. */
export const app = {
  trail: null,
  tracker: null,
  anonymousId: null,
  userId: null,
  token: null,
  sessionId: null,
  policyVersion: options.privacy.policyVersion,
  /** Consent, preferences and privacy rights are about this id. */
  get subject() {
    return this.userId ?? this.anonymousId;
  },
  /** Queues an event about this visitor (stored only with analytics consent). */
  track(name, extra = {}) {
    this.tracker.track({
      type: 'action',
      name,
      userId: this.userId ?? undefined,
      anonymousId: this.anonymousId,
      sessionId: this.sessionId ?? undefined,
      path: location.hash.slice(1) || '/',
      userAgent: navigator.userAgent,
      ...extra,
    });
  },
  async cart() {
    return (await this.trail.sessions.get(this.token, 'cart')) ?? [];
  },
  async setCart(items) {
    await this.trail.sessions.set(this.token, 'cart', items);
    renderCartCount(items);
  },
  /** Re-renders the current view (after a login, an erase, a consent change). */
  refresh: () => route(),
};

async function start() {
  const badge = $('#storage-badge');
  const trail = await connect(options);
  app.trail = trail;
  window.trail = trail; // for the curious, and for the tests
  window.app = app;
  badge.dataset.state = trail.persistent ? 'opfs' : 'memory';
  badge.textContent = trail.persistent ? 'Saved on this device (OPFS)' : 'Memory only: not saved';
  badge.title = trail.persistent ? 'The database is in this browser’s private file system.' : trail.reason?.message ?? '';

  app.tracker = new Tracker(trail, { flushIntervalMs: 400 });
  wireConsent(app);
  app.anonymousId = localStorage.getItem('teapot.anonymousId');
  if (!app.anonymousId) {
    app.anonymousId = uuidv7();
    localStorage.setItem('teapot.anonymousId', app.anonymousId);
  }
  await Promise.all([
    definePrefs(trail),
    trail.experiments.define({ key: EXPERIMENT, variants: [{ name: 'blue', weight: 1 }, { name: 'green', weight: 1 }] }),
  ]);
  await resumeSession();
  await applyPrefs(app);
  await showConsentIfNeeded(app);
  document.body.dataset.ready = 'true';
}

/** The visitor's session (its token in localStorage, as a cookie would be). */
async function resumeSession() {
  const token = localStorage.getItem('teapot.token');
  const session = token ? await app.trail.sessions.validate(token, { userAgent: navigator.userAgent }) : null;
  if (session) {
    app.token = token;
    app.userId = session.userId;
    app.sessionId = session.sessionId;
  } else {
    await newSession();
  }
  renderUser();
  renderCartCount(await app.cart());
}

async function newSession() {
  const created = await app.trail.sessions.create({ userAgent: navigator.userAgent, data: { cart: [] } });
  app.token = created.token;
  app.sessionId = created.sessionId;
  app.userId = null;
  localStorage.setItem('teapot.token', created.token);
}

/** Logs in: binds the session to the user and rotates its token. */
async function login(name) {
  const { token, sessionId } = await app.trail.sessions.login(app.token, name);
  app.token = token;
  app.sessionId = sessionId;
  app.userId = name;
  localStorage.setItem('teapot.token', token);
  await app.tracker.flush();
  await app.trail.tracking.identify(app.anonymousId, name);
  app.track('login');
  renderUser();
  await applyPrefs(app);
  await showConsentIfNeeded(app);
  route();
}

async function logout() {
  app.track('logout');
  await app.tracker.flush();
  await app.trail.sessions.destroy(app.token);
  await newSession();
  renderUser();
  renderCartCount([]);
  await applyPrefs(app);
  route();
}

/** After an erasure: a new anonymous visitor, with nothing remembered. */
app.forget = async () => {
  app.anonymousId = uuidv7();
  localStorage.setItem('teapot.anonymousId', app.anonymousId);
  await newSession();
  renderUser();
  renderCartCount([]);
  await applyPrefs(app);
  await showConsentIfNeeded(app); // a new visitor, who has decided nothing yet
};

function renderUser() {
  $('#user').textContent = app.userId ? `${t('signedInAs')} ${app.userId}` : '';
  $('#login-form').hidden = !!app.userId;
  $('#logout').hidden = !app.userId;
}

function renderCartCount(items) {
  const n = items.reduce((sum, i) => sum + i.qty, 0);
  $('#cart-count').textContent = String(n);
  $('#cart-count').setAttribute('aria-label', `${n} items in cart`);
}

// ---------------------------------------------------------------- routes --
const ROUTES = [
  [/^\/$/, shopView],
  [/^\/product\/([a-z-]+)$/, productView],
  [/^\/cart$/, cartView],
  [/^\/checkout\/([1-3])$/, checkoutView],
  [/^\/thanks\/([\w-]+)$/, thanksView],
  [/^\/dashboard$/, dashboardView],
  [/^\/preferences$/, preferencesView],
  [/^\/privacy$/, privacyView],
];

let renderId = 0;
async function route() {
  if (!app.trail) return;
  const path = location.hash.slice(1) || '/';
  const view = $('#view');
  const id = ++renderId;
  for (const a of document.querySelectorAll('nav a')) {
    const target = a.getAttribute('href').slice(1);
    if (target === path || (target !== '/' && path.startsWith(target))) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  const [re, render] = ROUTES.find(([re]) => re.test(path)) ?? [null, null];
  if (!render) {
    view.innerHTML = `<h1>${t('notFound')}</h1><p><a href="#/">${t('backToShop')}</a></p>`;
    return;
  }
  app.tracker.track({
    type: 'page',
    name: 'page_view',
    path,
    userId: app.userId ?? undefined,
    anonymousId: app.anonymousId,
    sessionId: app.sessionId ?? undefined,
    userAgent: navigator.userAgent,
  });
  const params = path.match(re).slice(1);
  const node = await render(app, ...params);
  if (id !== renderId) return; // a newer navigation won
  view.replaceChildren(node);
  document.title = `${node.dataset.title ?? 'Teapot & Co.'} — a usertrail demo`;
  if (view.dataset.navigated) view.focus({ preventScroll: true });
  view.dataset.navigated = 'true';
}

addEventListener('hashchange', () => void route());
$('#login-form').addEventListener('submit', (e) => {
  e.preventDefault();
  void login($('#login-name').value.trim());
});
$('#logout').addEventListener('click', () => void logout());

start()
  .then(route)
  .catch((err) => {
    console.error(err);
    $('#storage-badge').dataset.state = 'failed';
    $('#storage-badge').textContent = `Engine failed: ${err.code ?? err.name}`;
    $('#view').innerHTML = '';
    const p = document.createElement('p');
    p.className = 'bad';
    p.textContent = `The engine could not start (${err.code ?? err.name}): ${err.message}`;
    $('#view').append(p);
  });

if ('serviceWorker' in navigator) {
  navigator.serviceWorker.register('./sw.js').catch((err) => console.warn('no offline support:', err));
}
