// Names the shop's modules share.

/** The A/B test on the product page's buy button. */
export const EXPERIMENT = 'buy-button-colour';
/** The funnel the dashboard draws. */
export const FUNNEL = ['product_view', 'add_to_cart', 'checkout', 'purchase'];
/** localStorage: the consent policy version in force (the privacy centre can publish a new one). */
export const POLICY_KEY = 'teapot.policyVersion';
/** The engine's open options; every context that connects uses the same. */
export function engineOptions() {
  const policyVersion = localStorage.getItem(POLICY_KEY) ?? '1';
  return {
    name: 'teapot',
    privacy: { requireConsent: ['analytics'], policyVersion },
    sessions: { idleTimeoutSecs: 30 * 24 * 3600, absoluteTimeoutSecs: 90 * 24 * 3600 },
  };
}
