// The shop: catalogue, product pages, the cart (in session state) and a
// three-step checkout. Every step is tracked through the app's Tracker.
import { h, money } from './dom.js';
import { PRODUCTS, product } from './products.js';
import { t } from './i18n.js';
import { EXPERIMENT } from './config.js';

const swatch = (p) => h('div', { class: 'swatch', style: `background:${p.colour}` }, h('span', { 'aria-hidden': 'true' }, p.emoji));

export function shopView() {
  return h(
    'section',
    { dataset: { title: t('shopTitle') } },
    h('h1', {}, t('shopTitle')),
    h('p', { class: 'muted' }, t('shopIntro')),
    h(
      'ul',
      { class: 'grid', style: 'list-style:none;padding:0', 'aria-label': 'Products' },
      PRODUCTS.map((p) =>
        h(
          'li',
          { class: 'card product' },
          swatch(p),
          h('h2', {}, h('a', { href: `#/product/${p.id}`, 'data-product': p.id }, p.name)),
          h('p', { class: 'price' }, money(p.price)),
        ),
      ),
    ),
  );
}

export async function productView(app, id) {
  const p = product(id);
  if (!p) return h('section', {}, h('h1', {}, t('notFound')), h('a', { href: '#/' }, t('backToShop')));
  app.track('product_view', { properties: { product: p.id } });
  // The A/B test: half of the visitors see a green button.
  const variant = await app.trail.experiments.assign(EXPERIMENT, app.subject);
  const status = h('p', { role: 'status', class: 'muted' });
  const add = h(
    'button',
    {
      id: 'add-to-cart',
      class: variant === 'green' ? 'buy-green' : undefined,
      'data-variant': variant,
      onclick: async () => {
        const cart = await app.cart();
        const line = cart.find((l) => l.id === p.id);
        if (line) line.qty += 1;
        else cart.push({ id: p.id, qty: 1 });
        await app.setCart(cart);
        app.track('add_to_cart', { properties: { product: p.id, variant } });
        status.textContent = `${p.name} is in your cart.`;
      },
    },
    t('addToCart'),
  );
  return h(
    'article',
    { class: 'detail', dataset: { title: p.name } },
    swatch(p),
    h(
      'div',
      {},
      h('h1', {}, p.name),
      h('p', {}, p.blurb),
      h('p', { class: 'price' }, money(p.price)),
      add,
      status,
      h('p', {}, h('a', { href: '#/cart' }, `${t('nav.cart')} →`)),
    ),
  );
}

export async function cartView(app) {
  const cart = await app.cart();
  const section = h('section', { dataset: { title: t('cartTitle') } }, h('h1', {}, t('cartTitle')));
  if (cart.length === 0) {
    section.append(h('p', {}, t('cartEmpty')), h('a', { href: '#/' }, t('backToShop')));
    return section;
  }
  const total = cart.reduce((s, l) => s + product(l.id).price * l.qty, 0);
  section.append(
    h(
      'table',
      { class: 'card' },
      h('caption', { class: 'sr-only' }, t('cartTitle')),
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Product'), h('th', { scope: 'col', class: 'num' }, 'Qty'), h('th', { scope: 'col', class: 'num' }, 'Price'), h('th', { scope: 'col' }, h('span', { class: 'sr-only' }, 'Actions')))),
      h(
        'tbody',
        {},
        cart.map((l) =>
          h(
            'tr',
            { 'data-line': l.id },
            h('td', {}, product(l.id).name),
            h('td', { class: 'num' }, l.qty),
            h('td', { class: 'num' }, money(product(l.id).price * l.qty)),
            h(
              'td',
              {},
              h(
                'button',
                {
                  class: 'secondary',
                  'aria-label': `${t('remove')} ${product(l.id).name}`,
                  onclick: async () => {
                    await app.setCart(cart.filter((x) => x.id !== l.id));
                    app.track('remove_from_cart', { properties: { product: l.id } });
                    app.refresh();
                  },
                },
                t('remove'),
              ),
            ),
          ),
        ),
      ),
      h('tfoot', {}, h('tr', {}, h('th', { scope: 'row' }, t('total')), h('td', {}), h('td', { class: 'num', id: 'cart-total' }, money(total)), h('td', {}))),
    ),
    h('div', { class: 'actions' }, h('a', { class: 'button', id: 'checkout', href: '#/checkout/1', onclick: () => app.track('checkout', { properties: { items: cart.length, total } }) }, t('checkout'))),
  );
  return section;
}

const STEPS = ['Shipping', 'Payment', 'Review'];

/** Checkout steps; what is typed is kept in session state, like the cart. */
export async function checkoutView(app, stepText) {
  const step = Number(stepText);
  const cart = await app.cart();
  if (cart.length === 0) return cartView(app);
  const saved = (await app.trail.sessions.get(app.token, 'checkout')) ?? {};
  const field = (name, label, attrs = {}) =>
    h('div', { class: 'form-row' }, h('label', { for: `f-${name}` }, label), h('input', { id: `f-${name}`, name, value: saved[name] ?? '', required: true, ...attrs }));
  const form = h('form', { class: 'card', id: 'checkout-form' });
  if (step === 1) {
    form.append(field('fullName', 'Full name', { autocomplete: 'name' }), field('street', 'Street and number', { autocomplete: 'street-address' }), field('city', 'City', { autocomplete: 'address-level2' }));
  } else if (step === 2) {
    form.append(
      h('div', { class: 'form-row' }, h('label', { for: 'f-method' }, 'Payment method'), h('select', { id: 'f-method', name: 'method' }, ['Invoice', 'Card on delivery', 'Bank transfer'].map((m) => h('option', { selected: saved.method === m }, m)))),
      h('p', { class: 'muted' }, 'This is a demo: no payment details are asked for or stored.'),
    );
  } else {
    const total = cart.reduce((s, l) => s + product(l.id).price * l.qty, 0);
    form.append(
      h('h2', {}, 'Review'),
      h('ul', {}, cart.map((l) => h('li', {}, `${l.qty} × ${product(l.id).name}`))),
      h('p', {}, `Ship to ${saved.fullName ?? ''}, ${saved.street ?? ''}, ${saved.city ?? ''}. Pay by ${saved.method ?? 'Invoice'}.`),
      h('p', { class: 'price' }, `${t('total')}: ${money(total)}`),
    );
  }
  form.append(h('div', { class: 'actions' }, step > 1 ? h('a', { class: 'button secondary', href: `#/checkout/${step - 1}` }, 'Back') : null, h('button', { type: 'submit', id: 'checkout-next' }, step < 3 ? 'Continue' : 'Place order')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const values = Object.fromEntries(new FormData(form));
    await app.trail.sessions.set(app.token, 'checkout', { ...saved, ...values });
    app.track('checkout_step', { properties: { step } });
    if (step < 3) {
      location.hash = `#/checkout/${step + 1}`;
      return;
    }
    const order = `T${Date.now().toString(36).toUpperCase()}`;
    const total = cart.reduce((s, l) => s + product(l.id).price * l.qty, 0);
    app.track('purchase', { properties: { order, total, items: cart.reduce((s, l) => s + l.qty, 0) } });
    const orders = (await app.trail.sessions.get(app.token, 'orders')) ?? [];
    await app.trail.sessions.merge(app.token, { orders: [...orders, { order, total, at: Date.now() }], checkout: null });
    await app.setCart([]);
    location.hash = `#/thanks/${order}`;
  });
  return h(
    'section',
    { dataset: { title: `Checkout: ${STEPS[step - 1]}` } },
    h('h1', {}, `${t('checkout')}`),
    h('ol', { class: 'steps', 'aria-label': 'Checkout steps' }, STEPS.map((s, i) => h('li', { 'aria-current': i + 1 === step ? 'step' : undefined }, `${i + 1}. ${s}`))),
    form,
  );
}

export function thanksView(app, order) {
  return h(
    'section',
    { dataset: { title: t('thanksTitle') } },
    h('h1', {}, t('thanksTitle')),
    h('p', {}, `Order ${order} is placed. (Nothing was sent anywhere: this shop lives in your browser.)`),
    h('p', {}, h('a', { href: '#/dashboard' }, 'See it counted on the dashboard →')),
  );
}
