// Preferences: theme and language apply at once and are kept in the engine;
// notification settings show their defaults until changed.
import { h } from './dom.js';
import { t, setLanguage, LANGUAGES } from './i18n.js';

const DEFINITIONS = [
  { key: 'appearance.theme', category: 'appearance', type: 'enum', values: ['light', 'dark', 'system'], default: 'system', description: 'Colour theme' },
  { key: 'locale', category: 'language', type: 'string', format: 'bcp47', default: 'en', description: 'Language' },
  { key: 'notifications.orders', category: 'notifications', type: 'bool', default: true, description: 'E-mail me about my orders' },
  { key: 'notifications.offers', category: 'notifications', type: 'bool', default: false, description: 'E-mail me offers' },
  { key: 'notifications.digest', category: 'notifications', type: 'enum', values: ['daily', 'weekly', 'never'], default: 'weekly', description: 'Tea digest' },
];

export async function definePrefs(trail) {
  await Promise.all(DEFINITIONS.map((d) => trail.prefs.define(d)));
}

/** Applies the visitor's theme and language to the page. */
export async function applyPrefs(app) {
  const [theme, locale] = await Promise.all([app.trail.prefs.get(app.subject, 'appearance.theme'), app.trail.prefs.get(app.subject, 'locale')]);
  document.documentElement.dataset.theme = theme.value;
  setLanguage(locale.value);
}

export async function preferencesView(app) {
  const values = await app.trail.prefs.getAll(app.subject);
  const byKey = Object.fromEntries(values.map((v) => [v.key, v]));
  const status = h('p', { role: 'status', id: 'prefs-status', class: 'muted' });
  const save = async (key, value) => {
    await app.trail.prefs.set(app.subject, key, value, { source: 'preferences-page' });
    app.track('preference_changed', { properties: { key } });
    status.textContent = 'Saved.';
    if (key === 'appearance.theme' || key === 'locale') {
      await applyPrefs(app);
      if (key === 'locale') app.refresh();
    }
  };
  const radios = (key, label, options) =>
    h(
      'fieldset',
      { class: 'card', style: 'margin-bottom:1rem' },
      h('legend', {}, label),
      options.map(([value, text]) =>
        h(
          'label',
          { style: 'margin-right:1rem' },
          h('input', { type: 'radio', name: key, value, checked: byKey[key].value === value, onchange: () => void save(key, value) }),
          ` ${text}`,
        ),
      ),
    );
  const notification = (def) => {
    const v = byKey[def.key];
    const id = `pref-${def.key.replace('.', '-')}`;
    const control =
      def.type === 'bool'
        ? h('input', { type: 'checkbox', id, checked: v.value === true, onchange: (e) => void save(def.key, e.target.checked) })
        : h('select', { id, onchange: (e) => void save(def.key, e.target.value) }, def.values.map((x) => h('option', { value: x, selected: v.value === x }, x)));
    return h('div', { class: 'form-row' }, h('label', { for: id }, def.description, v.isDefault ? h('span', { class: 'pill', style: 'margin-left:.5rem' }, 'default') : null), control);
  };
  return h(
    'section',
    { dataset: { title: t('preferencesTitle') } },
    h('h1', {}, t('preferencesTitle')),
    h('p', { class: 'muted' }, `Stored for ${app.userId ? app.userId : 'this visitor'} in the local database, with a history of changes.`),
    radios('appearance.theme', 'Theme', [
      ['light', 'Light'],
      ['dark', 'Dark'],
      ['system', 'System'],
    ]),
    h(
      'div',
      { class: 'card form-row', style: 'margin-bottom:1rem' },
      h('label', { for: 'pref-locale' }, 'Language'),
      h('select', { id: 'pref-locale', onchange: (e) => void save('locale', e.target.value) }, LANGUAGES.map(([tag, name]) => h('option', { value: tag, selected: byKey.locale.value === tag }, name))),
    ),
    h('fieldset', { class: 'card' }, h('legend', {}, 'Notifications'), DEFINITIONS.filter((d) => d.category === 'notifications').map(notification)),
    status,
  );
}
