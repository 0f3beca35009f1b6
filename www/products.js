// The catalogue: eight products. Shared by the shop and the sample traffic.
export const PRODUCTS = [
  { id: 'sencha', name: 'Sencha green tea', price: 1290, emoji: '🍵', colour: '#d8ecd0', blurb: 'Grassy, bright and clean, from Shizuoka.' },
  { id: 'earl-grey', name: 'Earl Grey', price: 990, emoji: '🫖', colour: '#dfe3f3', blurb: 'Black tea with bergamot, as it should be.' },
  { id: 'chai', name: 'Masala chai', price: 1150, emoji: '🌶️', colour: '#f5e0cf', blurb: 'Cardamom, ginger, clove and cinnamon.' },
  { id: 'chamomile', name: 'Chamomile', price: 850, emoji: '🌼', colour: '#f7efc9', blurb: 'Whole flowers, for the evening.' },
  { id: 'oolong', name: 'Tieguanyin oolong', price: 1890, emoji: '🍃', colour: '#d5ebe4', blurb: 'Floral and creamy; steep it five times.' },
  { id: 'teapot', name: 'Cast-iron teapot', price: 4900, emoji: '🫖', colour: '#e2e2e2', blurb: 'Keeps a litre hot for an hour.' },
  { id: 'cups', name: 'Two porcelain cups', price: 2400, emoji: '☕', colour: '#f0e4ee', blurb: 'Thin-walled, dishwasher-safe.' },
  { id: 'kettle', name: 'Gooseneck kettle', price: 5900, emoji: '♨️', colour: '#f3d9d6', blurb: 'Set the temperature to the degree.' },
];

export const product = (id) => PRODUCTS.find((p) => p.id === id);
