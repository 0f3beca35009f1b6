// The shop's words in three languages. The preference `locale` picks one.
const WORDS = {
  en: {
    'nav.shop': 'Shop', 'nav.cart': 'Cart', 'nav.dashboard': 'Dashboard', 'nav.preferences': 'Preferences', 'nav.privacy': 'Privacy',
    'login.label': 'Name', 'login.button': 'Log in', logout: 'Log out', signedInAs: 'Signed in as',
    'consent.title': 'Your privacy choices',
    shopTitle: 'Teas and teapots', shopIntro: 'Browse, add to your cart and check out. Every click is counted on this device, only with your consent.',
    addToCart: 'Add to cart', view: 'View', cartTitle: 'Your cart', cartEmpty: 'Your cart is empty.', checkout: 'Check out', total: 'Total', remove: 'Remove',
    notFound: 'Page not found', backToShop: 'Back to the shop', dashboardTitle: 'Dashboard', preferencesTitle: 'Preferences', privacyTitle: 'Privacy centre',
    thanksTitle: 'Thank you!',
  },
  de: {
    'nav.shop': 'Laden', 'nav.cart': 'Warenkorb', 'nav.dashboard': 'Dashboard', 'nav.preferences': 'Einstellungen', 'nav.privacy': 'Datenschutz',
    'login.label': 'Name', 'login.button': 'Anmelden', logout: 'Abmelden', signedInAs: 'Angemeldet als',
    'consent.title': 'Ihre Datenschutz-Auswahl',
    shopTitle: 'Tees und Teekannen', shopIntro: 'Stöbern, in den Warenkorb legen, bezahlen. Jeder Klick wird nur auf diesem Gerät gezählt, und nur mit Ihrer Einwilligung.',
    addToCart: 'In den Warenkorb', view: 'Ansehen', cartTitle: 'Ihr Warenkorb', cartEmpty: 'Ihr Warenkorb ist leer.', checkout: 'Zur Kasse', total: 'Summe', remove: 'Entfernen',
    notFound: 'Seite nicht gefunden', backToShop: 'Zurück zum Laden', dashboardTitle: 'Dashboard', preferencesTitle: 'Einstellungen', privacyTitle: 'Datenschutz-Center',
    thanksTitle: 'Vielen Dank!',
  },
  es: {
    'nav.shop': 'Tienda', 'nav.cart': 'Carrito', 'nav.dashboard': 'Panel', 'nav.preferences': 'Preferencias', 'nav.privacy': 'Privacidad',
    'login.label': 'Nombre', 'login.button': 'Entrar', logout: 'Salir', signedInAs: 'Sesión de',
    'consent.title': 'Sus opciones de privacidad',
    shopTitle: 'Tés y teteras', shopIntro: 'Explore, añada al carrito y pague. Cada clic se cuenta solo en este dispositivo, y solo con su consentimiento.',
    addToCart: 'Añadir al carrito', view: 'Ver', cartTitle: 'Su carrito', cartEmpty: 'Su carrito está vacío.', checkout: 'Pagar', total: 'Total', remove: 'Quitar',
    notFound: 'Página no encontrada', backToShop: 'Volver a la tienda', dashboardTitle: 'Panel', preferencesTitle: 'Preferencias', privacyTitle: 'Centro de privacidad',
    thanksTitle: '¡Gracias!',
  },
};

/** The languages offered, as BCP 47 tags with their own names. */
export const LANGUAGES = [
  ['en', 'English'],
  ['de', 'Deutsch'],
  ['es', 'Español'],
];

let words = WORDS.en;

/** A word in the current language. */
export function t(key) {
  return words[key] ?? WORDS.en[key] ?? key;
}

/** Switches the page's language at once: `lang`, and every `data-i18n` element. */
export function setLanguage(tag) {
  const lang = (tag ?? 'en').split('-')[0];
  words = WORDS[lang] ?? WORDS.en;
  document.documentElement.lang = WORDS[lang] ? lang : 'en';
  for (const el of document.querySelectorAll('[data-i18n]')) el.textContent = t(el.dataset.i18n);
}
