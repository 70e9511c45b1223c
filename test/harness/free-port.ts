/** Free ports for test services: the product's own helper. */
export { freePort } from '../../src/local/free-port.ts';
